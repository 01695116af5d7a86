// Test peers for fluvial's Flume receivers, written for fluvial's tests (not
// copied from Flume or Spark), on Apache Avro's own Java IPC (avro-ipc 1.8.2,
// Netty 3), the classes behind Flume's AvroSink and Spark's SparkSink.
//
//   java FlumePeer sink HOST PORT BATCHES SIZE [--deflate] [--no-doc]
//       AvroSink role: NettyTransceiver + GenericRequestor sending BATCHES
//       appendBatch calls of SIZE events, then one append (event i: headers
//       {seq: "i", src: "java"}, body "event-i"). --deflate puts ZlibEncoder(6)
//       and ZlibDecoder in front of the pipeline, as Flume's compression-type =
//       deflate does. One JSON line per call: {"call": ..., "status": "OK"}.
//   java FlumePeer sparksink EVENTS TIMEOUT_MS [--no-doc]
//       SparkSink role: NettyServer + GenericResponder over an in-memory channel
//       of events 0..EVENTS-1 (headers {id: "i"}, body "body-i"): getEventBatch
//       takes events into a transaction, ack commits, nack or no ack within
//       TIMEOUT_MS rolls back (redelivered first), an empty channel gets an error
//       batch. Prints {"port": p}, then one JSON line per operation; stops when
//       stdin closes.
//
// Protocol texts carry a "doc", as the ones compiled from Flume's and Spark's
// IDL files (their licence headers) do, so the handshake takes the NONE ->
// resend path against fluvial; --no-doc makes the hash equal fluvial's.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;

import org.apache.avro.Protocol;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.ipc.NettyServer;
import org.apache.avro.ipc.NettyTransceiver;
import org.apache.avro.ipc.generic.GenericRequestor;
import org.apache.avro.ipc.generic.GenericResponder;
import org.jboss.netty.channel.Channel;
import org.jboss.netty.channel.ChannelPipeline;
import org.jboss.netty.channel.socket.nio.NioClientSocketChannelFactory;
import org.jboss.netty.handler.codec.compression.ZlibDecoder;
import org.jboss.netty.handler.codec.compression.ZlibEncoder;

public class FlumePeer {
  static final String EVENT_FIELDS =
      "[{\"name\":\"headers\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},{\"name\":\"body\",\"type\":\"bytes\"}]";

  static String doc(boolean withDoc) {
    return withDoc ? "\"doc\":\"Licensed to the Apache Software Foundation (ASF) under one or more contributor "
        + "license agreements.\"," : "";
  }

  static Protocol flume(boolean withDoc) {
    return Protocol.parse("{\"protocol\":\"AvroSourceProtocol\",\"namespace\":\"org.apache.flume.source.avro\","
        + doc(withDoc) + "\"types\":[{\"type\":\"enum\",\"name\":\"Status\",\"symbols\":[\"OK\",\"FAILED\",\"UNKNOWN\"]},"
        + "{\"type\":\"record\",\"name\":\"AvroFlumeEvent\",\"fields\":" + EVENT_FIELDS + "}],\"messages\":{"
        + "\"append\":{\"request\":[{\"name\":\"event\",\"type\":\"AvroFlumeEvent\"}],\"response\":\"Status\"},"
        + "\"appendBatch\":{\"request\":[{\"name\":\"events\",\"type\":{\"type\":\"array\",\"items\":\"AvroFlumeEvent\"}}],"
        + "\"response\":\"Status\"}}}");
  }

  static Protocol sparkSink(boolean withDoc) {
    return Protocol.parse("{\"protocol\":\"SparkFlumeProtocol\",\"namespace\":\"org.apache.spark.streaming.flume.sink\","
        + doc(withDoc) + "\"types\":[{\"type\":\"record\",\"name\":\"SparkSinkEvent\",\"fields\":" + EVENT_FIELDS + "},"
        + "{\"type\":\"record\",\"name\":\"EventBatch\",\"fields\":[{\"name\":\"errorMsg\",\"type\":\"string\",\"default\":\"\"},"
        + "{\"name\":\"sequenceNumber\",\"type\":\"string\"},{\"name\":\"events\",\"type\":{\"type\":\"array\",\"items\":"
        + "\"SparkSinkEvent\"}}]}],\"messages\":{"
        + "\"getEventBatch\":{\"request\":[{\"name\":\"n\",\"type\":\"int\"}],\"response\":\"EventBatch\"},"
        + "\"ack\":{\"request\":[{\"name\":\"sequenceNumber\",\"type\":\"string\"}],\"response\":\"null\"},"
        + "\"nack\":{\"request\":[{\"name\":\"sequenceNumber\",\"type\":\"string\"}],\"response\":\"null\"}}}");
  }

  static synchronized void say(String json) {
    System.out.println(json);
    System.out.flush();
  }

  static String ids(List<Integer> ids) {
    StringBuilder b = new StringBuilder("[");
    for (int i = 0; i < ids.size(); i++) b.append(i == 0 ? "" : ",").append(ids.get(i));
    return b.append("]").toString();
  }

  /** A client channel factory putting the zlib codec in front, as Flume's deflate option does. */
  static class DeflateChannelFactory extends NioClientSocketChannelFactory {
    DeflateChannelFactory() {
      super(Executors.newCachedThreadPool(), Executors.newCachedThreadPool());
    }

    @Override
    public org.jboss.netty.channel.socket.SocketChannel newChannel(ChannelPipeline pipeline) {
      pipeline.addFirst("deflater", new ZlibEncoder(6));
      pipeline.addFirst("inflater", new ZlibDecoder());
      return super.newChannel(pipeline);
    }
  }

  static GenericRecord event(Schema schema, int i) {
    GenericRecord e = new GenericData.Record(schema);
    Map<CharSequence, CharSequence> headers = new HashMap<>();
    headers.put("seq", Integer.toString(i));
    headers.put("src", "java");
    e.put("headers", headers);
    e.put("body", ByteBuffer.wrap(("event-" + i).getBytes(StandardCharsets.UTF_8)));
    return e;
  }

  static void sink(String[] a, boolean withDoc, boolean deflate) throws Exception {
    Protocol p = flume(withDoc);
    InetSocketAddress addr = new InetSocketAddress(a[1], Integer.parseInt(a[2]));
    int batches = Integer.parseInt(a[3]), size = Integer.parseInt(a[4]);
    NettyTransceiver t = deflate ? new NettyTransceiver(addr, new DeflateChannelFactory(), 20000L)
                                 : new NettyTransceiver(addr, 20000L);
    GenericRequestor r = new GenericRequestor(p, t);
    Schema eventSchema = p.getType("org.apache.flume.source.avro.AvroFlumeEvent");
    Protocol.Message batch = p.getMessages().get("appendBatch");
    for (int b = 0; b < batches; b++) {
      List<GenericRecord> events = new ArrayList<>();
      for (int i = b * size; i < (b + 1) * size; i++) events.add(event(eventSchema, i));
      GenericRecord req = new GenericData.Record(batch.getRequest());
      req.put("events", events);
      Object status = r.request("appendBatch", req);
      say("{\"call\":\"appendBatch\",\"first\":" + (b * size) + ",\"n\":" + size + ",\"status\":\"" + status + "\"}");
    }
    GenericRecord one = new GenericData.Record(p.getMessages().get("append").getRequest());
    one.put("event", event(eventSchema, batches * size));
    Object status = r.request("append", one);
    say("{\"call\":\"append\",\"first\":" + (batches * size) + ",\"n\":1,\"status\":\"" + status + "\"}");
    t.close();
  }

  static void sparkSinkServer(String[] a, boolean withDoc) throws Exception {
    final Protocol p = sparkSink(withDoc);
    final int total = Integer.parseInt(a[1]);
    final long timeoutMs = Long.parseLong(a[2]);
    final Deque<Integer> channel = new ArrayDeque<>();
    for (int i = 0; i < total; i++) channel.add(i);
    final Map<String, List<Integer>> open = new LinkedHashMap<>();
    final Map<String, Long> opened = new HashMap<>();
    final Schema batchSchema = p.getType("org.apache.spark.streaming.flume.sink.EventBatch");
    final Schema eventSchema = p.getType("org.apache.spark.streaming.flume.sink.SparkSinkEvent");
    final int[] counter = {0};
    final Object lock = new Object();
    GenericResponder responder = new GenericResponder(p) {
      void expire() {
        long now = System.currentTimeMillis();
        for (String seq : new ArrayList<>(opened.keySet())) {
          if (now - opened.get(seq) > timeoutMs) rollback(seq, "timeout");
        }
      }

      boolean rollback(String seq, String why) {
        List<Integer> ids = open.remove(seq);
        opened.remove(seq);
        if (ids == null) return false;
        for (int i = ids.size() - 1; i >= 0; i--) channel.addFirst(ids.get(i));
        say("{\"op\":\"" + why + "\",\"seq\":\"" + seq + "\",\"ids\":" + ids(ids) + "}");
        return true;
      }

      @Override
      public Object respond(Protocol.Message message, Object request) {
        GenericRecord req = (GenericRecord) request;
        synchronized (lock) {
          expire();
          String name = message.getName();
          if (name.equals("getEventBatch")) {
            int n = (Integer) req.get("n");
            GenericRecord out = new GenericData.Record(batchSchema);
            List<GenericRecord> events = new ArrayList<>();
            if (channel.isEmpty()) {
              out.put("errorMsg", "Tried several times, but did not get any events from the channel!");
              out.put("sequenceNumber", "");
              out.put("events", events);
              say("{\"op\":\"error-batch\"}");
              return out;
            }
            List<Integer> ids = new ArrayList<>();
            while (!channel.isEmpty() && ids.size() < n) ids.add(channel.pollFirst());
            String seq = "javasink-" + (counter[0]++);
            open.put(seq, ids);
            opened.put(seq, System.currentTimeMillis());
            for (int i : ids) {
              GenericRecord e = new GenericData.Record(eventSchema);
              Map<CharSequence, CharSequence> h = new HashMap<>();
              h.put("id", Integer.toString(i));
              e.put("headers", h);
              e.put("body", ByteBuffer.wrap(("body-" + i).getBytes(StandardCharsets.UTF_8)));
              events.add(e);
            }
            out.put("errorMsg", "");
            out.put("sequenceNumber", seq);
            out.put("events", events);
            say("{\"op\":\"get\",\"seq\":\"" + seq + "\",\"ids\":" + ids(ids) + "}");
            return out;
          }
          String seq = req.get("sequenceNumber").toString();
          if (name.equals("ack")) {
            List<Integer> ids = open.remove(seq);
            opened.remove(seq);
            say(ids == null ? "{\"op\":\"late-ack\",\"seq\":\"" + seq + "\"}"
                            : "{\"op\":\"ack\",\"seq\":\"" + seq + "\",\"ids\":" + ids(ids) + "}");
          } else if (!rollback(seq, "nack")) {
            say("{\"op\":\"late-nack\",\"seq\":\"" + seq + "\"}");
          }
          return null;
        }
      }
    };
    NettyServer server = new NettyServer(responder, new InetSocketAddress("127.0.0.1", 0));
    server.start();
    say("{\"port\":" + server.getPort() + "}");
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    while (in.readLine() != null) { }
    server.close();
  }

  public static void main(String[] a) throws Exception {
    boolean withDoc = true, deflate = false;
    for (String s : a) {
      if (s.equals("--no-doc")) withDoc = false;
      if (s.equals("--deflate")) deflate = true;
    }
    if (a[0].equals("sink")) sink(a, withDoc, deflate);
    else if (a[0].equals("sparksink")) sparkSinkServer(a, withDoc);
    else throw new IllegalArgumentException("unknown role " + a[0]);
    System.exit(0);
  }
}
