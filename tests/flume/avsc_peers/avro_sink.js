// A Flume AvroSink-like client: one persistent avsc channel (Netty framing,
// stateful handshake) to HOST:PORT, sending BATCHES appendBatch calls of SIZE
// events each (then one append), one call at a time as AvroSink does.
// Event i has headers {seq: "i", src: "avsc"} and body "event-i" (or, with
// --binary, 4 bytes: i as uint32 big-endian followed by 0xff).
// Prints one JSON line per call: {"call": ..., "first": i, "n": k, "status": "OK"}.
//
//   node avro_sink.js HOST PORT BATCHES SIZE [--doc] [--deflate] [--binary] [--body-bytes N]
'use strict';

const net = require('net');
const zlib = require('zlib');
const avro = require('avsc');
const {FLUME, FLUME_WITH_DOC} = require('./protocols');

const args = process.argv.slice(2);
const [host, port, batches, size] = [args[0], +args[1], +args[2], +args[3]];
const flag = (name) => args.includes(name);
const bodyBytesAt = args.indexOf('--body-bytes');
const bodyBytes = bodyBytesAt >= 0 ? +args[bodyBytesAt + 1] : 0;
const quiet = flag('--quiet');

const svc = avro.Service.forProtocol(flag('--doc') ? FLUME_WITH_DOC : FLUME);
const client = svc.createClient({timeout: 20000});
const socket = net.connect({host, port});
socket.setNoDelay(true);

let transport = socket;
if (flag('--deflate')) {
  // One zlib stream per direction, flushed per message (Netty's ZlibEncoder).
  const deflate = zlib.createDeflate({level: 6, flush: zlib.constants.Z_SYNC_FLUSH});
  const inflate = zlib.createInflate();
  deflate.pipe(socket);
  socket.pipe(inflate);
  // fluvial's zlib stream never ends (as Netty's): ignore "unexpected end" at close.
  inflate.on('error', (err) => { if (!closing) done(err); });
  transport = {readable: inflate, writable: deflate};
}
client.createChannel(transport);

function body(i) {
  if (flag('--binary')) {
    const b = Buffer.alloc(5);
    b.writeUInt32BE(i, 0);
    b[4] = 0xff;
    return b;
  }
  if (bodyBytes) {
    const b = Buffer.alloc(bodyBytes, 'x');
    b.write(String(i));
    return b;
  }
  return Buffer.from('event-' + i);
}

function ev(i) {
  return {headers: {seq: String(i), src: 'avsc'}, body: body(i)};
}

let closing = false;
function done(err) {
  closing = true;
  if (err) {
    process.stderr.write('avro_sink: ' + (err.stack || err) + '\n');
    process.exitCode = 1;
  }
  socket.end();
  client.destroyChannels({noWait: true});
}

const started = process.hrtime.bigint();
let b = 0;
function next() {
  if (b < batches) {
    const first = b * size;
    const events = [];
    for (let i = first; i < first + size; i++) events.push(ev(i));
    client.emitMessage('appendBatch', {events}, (err, status) => {
      if (err) return done(err);
      if (!quiet) console.log(JSON.stringify({call: 'appendBatch', first, n: size, status}));
      b++;
      next();
    });
  } else {
    const i = batches * size;
    client.emitMessage('append', {event: ev(i)}, (err, status) => {
      if (err) return done(err);
      const secs = Number(process.hrtime.bigint() - started) / 1e9;
      if (!quiet) console.log(JSON.stringify({call: 'append', first: i, n: 1, status}));
      console.log(JSON.stringify({done: true, events: batches * size + 1, seconds: secs}));
      done();
    });
  }
}
next();
