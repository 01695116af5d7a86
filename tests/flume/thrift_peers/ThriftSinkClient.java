// A ThriftSink-like client on Apache libthrift (Java; 0.16 as Debian's and pyspark 4's), written for fluvial's tests:
// TSocket + TFastFramedTransport + compact or binary protocol, as Flume's ThriftRpcClient sets them up.
// No generated code (no thrift compiler here): the ThriftSourceProtocol calls are written field by field.
//
//   java ThriftSinkClient HOST PORT compact|binary EVENTS BATCH
//
// Sends one append (event 0), then appendBatch calls of BATCH events until EVENTS were sent; event i has
// headers {"n": i, "src": "java"} and body "jthrift-<i>". Prints one line per call: "<method> <seqid> <status>".
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import org.apache.thrift.protocol.TBinaryProtocol;
import org.apache.thrift.protocol.TCompactProtocol;
import org.apache.thrift.protocol.TField;
import org.apache.thrift.protocol.TList;
import org.apache.thrift.protocol.TMap;
import org.apache.thrift.protocol.TMessage;
import org.apache.thrift.protocol.TMessageType;
import org.apache.thrift.protocol.TProtocol;
import org.apache.thrift.protocol.TStruct;
import org.apache.thrift.protocol.TType;
import org.apache.thrift.transport.TSocket;
import org.apache.thrift.transport.TTransport;

public class ThriftSinkClient {
    private static int seqid = 0;

    private static void writeEvent(TProtocol p, int i) throws Exception {
        p.writeStructBegin(new TStruct("ThriftFlumeEvent"));
        p.writeFieldBegin(new TField("headers", TType.MAP, (short) 1));
        p.writeMapBegin(new TMap(TType.STRING, TType.STRING, 2));
        p.writeString("n");
        p.writeString(Integer.toString(i));
        p.writeString("src");
        p.writeString("java");
        p.writeMapEnd();
        p.writeFieldEnd();
        p.writeFieldBegin(new TField("body", TType.STRING, (short) 2));
        p.writeBinary(ByteBuffer.wrap(("jthrift-" + i).getBytes(StandardCharsets.UTF_8)));
        p.writeFieldEnd();
        p.writeFieldStop();
        p.writeStructEnd();
    }

    private static int call(TProtocol p, String method, int first, int count) throws Exception {
        int id = ++seqid;
        p.writeMessageBegin(new TMessage(method, TMessageType.CALL, id));
        p.writeStructBegin(new TStruct(method + "_args"));
        if (method.equals("append")) {
            p.writeFieldBegin(new TField("event", TType.STRUCT, (short) 1));
            writeEvent(p, first);
        } else {
            p.writeFieldBegin(new TField("events", TType.LIST, (short) 1));
            p.writeListBegin(new TList(TType.STRUCT, count));
            for (int i = first; i < first + count; i++) {
                writeEvent(p, i);
            }
            p.writeListEnd();
        }
        p.writeFieldEnd();
        p.writeFieldStop();
        p.writeStructEnd();
        p.writeMessageEnd();
        p.getTransport().flush();

        TMessage reply = p.readMessageBegin();
        if (reply.type != TMessageType.REPLY || reply.seqid != id || !reply.name.equals(method)) {
            throw new IllegalStateException("unexpected reply " + reply);
        }
        int status = -1;
        p.readStructBegin();
        while (true) {
            TField f = p.readFieldBegin();
            if (f.type == TType.STOP) {
                break;
            }
            if (f.id == 0 && f.type == TType.I32) {
                status = p.readI32();
            } else {
                throw new IllegalStateException("unexpected field " + f);
            }
            p.readFieldEnd();
        }
        p.readStructEnd();
        p.readMessageEnd();
        System.out.println(method + " " + id + " " + status);
        return status;
    }

    /** TFastFramedTransport: in org.apache.thrift.transport.layered since 0.14, in org.apache.thrift.transport
     *  before (Flume 1.9's 0.9.3). */
    private static TTransport fastFramed(TTransport socket) throws Exception {
        Class<?> c;
        try {
            c = Class.forName("org.apache.thrift.transport.layered.TFastFramedTransport");
        } catch (ClassNotFoundException e) {
            c = Class.forName("org.apache.thrift.transport.TFastFramedTransport");
        }
        return (TTransport) c.getConstructor(TTransport.class).newInstance(socket);
    }

    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        String protocol = args[2];
        int events = Integer.parseInt(args[3]);
        int batch = Integer.parseInt(args[4]);
        TSocket socket = new TSocket(host, port);
        socket.setTimeout(10000);
        TTransport transport = fastFramed(socket);
        transport.open();
        TProtocol p = protocol.equals("binary") ? new TBinaryProtocol(transport) : new TCompactProtocol(transport);
        try {
            call(p, "append", 0, 1);
            for (int i = 1; i < events; i += batch) {
                call(p, "appendBatch", i, Math.min(batch, events - i));
            }
        } finally {
            transport.close();
        }
    }
}
