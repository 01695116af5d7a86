"""Input DStreams: where batches come from."""
