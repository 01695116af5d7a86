// Flume's ThriftSourceProtocol (apache/flume flume-ng-sdk/src/main/thrift/flume.thrift),
// restated for the tests' own thriftpy2 client: field ids, types and enum values as Flume's.
namespace java org.apache.flume.thrift

struct ThriftFlumeEvent {
  1: required map <string, string> headers,
  2: required binary body,
}

enum Status {
  OK,
  FAILED,
  ERROR,
  UNKNOWN
}

service ThriftSourceProtocol {
  Status append(1: ThriftFlumeEvent event),
  Status appendBatch(1: list<ThriftFlumeEvent> events),
}
