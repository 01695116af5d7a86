// An AvroSink-like client that retries as Flume's sink does: events 0..TOTAL-1
// in appendBatch calls of SIZE events; a batch answered FAILED, or whose
// connection broke or timed out, is sent again on a new connection (after
// 50 ms) until it is answered OK. Prints {"sent": first} per attempt and
// {"ok": first, "n": k} per batch answered OK; exits once all are OK.
//
//   node avro_sink_retry.js HOST PORT TOTAL SIZE
'use strict';

const net = require('net');
const avro = require('avsc');
const {FLUME_WITH_DOC} = require('./protocols');

const [host, port, total, size] = [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5]];
const svc = avro.Service.forProtocol(FLUME_WITH_DOC);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let first = 0;
let client = null;
let socket = null;

function connect() {
  client = svc.createClient({timeout: 1000});
  socket = net.connect({host, port});
  socket.setNoDelay(true);
  socket.on('error', () => {});
  client.createChannel(socket);   // opens with a handshake ping, as avsc does
}

function reset() {
  if (socket) socket.destroy();
  if (client) client.destroyChannels({noWait: true});
  client = socket = null;
  setTimeout(send, 50);
}

function send() {
  if (first >= total) { if (socket) socket.end(); return; }
  if (!client) connect();
  const n = Math.min(size, total - first);
  const events = [];
  for (let i = first; i < first + n; i++) {
    events.push({headers: {id: String(i)}, body: Buffer.from('event-' + i)});
  }
  say({sent: first, n});
  client.emitMessage('appendBatch', {events}, (err, status) => {
    if (err || status !== 'OK') return reset();
    say({ok: first, n});
    first += n;
    setImmediate(send);
  });
}
send();
