// A SparkSink-like server (Spark's SparkFlumeProtocol) with transaction
// semantics owned by the test: an in-memory channel of events 0..N-1 (event i:
// headers {id: "i"}, body "body-i"); getEventBatch(n) takes up to n events into
// a transaction with sequence number PREFIX-k; ack commits it, nack or no ack
// within --timeout-ms rolls it back to the head of the channel (redelivered
// first); a late ack is ignored. An empty channel gets an error batch at once
// (--empty error, the default) or after waiting up to 2 s for events
// (--empty block, as a real SparkSink blocks). stdin commands: "add N" (N more
// events), "stop" (every later getEventBatch gets "Spark sink has been
// stopped!"). Prints {"port": p} first, then one JSON line per operation.
//
//   node spark_sink.js EVENTS [--timeout-ms T] [--empty error|block] [--prefix P]
'use strict';

const net = require('net');
const readline = require('readline');
const avro = require('avsc');
const {SPARK_SINK} = require('./protocols');

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
let total = +args[0];
const timeoutMs = +opt('--timeout-ms', 60000);
const emptyMode = opt('--empty', 'error');
const prefix = opt('--prefix', 'avscsink');

let channel = [];
for (let i = 0; i < total; i++) channel.push(i);
const open = new Map();   // seq -> {ids, timer}
let counter = 0;
let stopped = false;
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

function rollback(seq, why) {
  const tx = open.get(seq);
  if (!tx) return false;
  clearTimeout(tx.timer);
  open.delete(seq);
  channel = tx.ids.concat(channel);
  say({op: why, seq, ids: tx.ids});
  return true;
}

function take(n) {
  const ids = channel.splice(0, n);
  const seq = prefix + '-' + (counter++);
  open.set(seq, {ids, timer: setTimeout(() => rollback(seq, 'timeout'), timeoutMs)});
  say({op: 'get', seq, ids});
  return {errorMsg: '', sequenceNumber: seq,
          events: ids.map((i) => ({headers: {id: String(i)}, body: Buffer.from('body-' + i)}))};
}

function errorBatch(msg) {
  say({op: 'error-batch', msg});
  return {errorMsg: msg, sequenceNumber: '', events: []};
}

const server = avro.Service.forProtocol(SPARK_SINK).createServer();
server.onMessage('getEventBatch', (req, cb) => {
  if (stopped) return cb(null, errorBatch('Spark sink has been stopped!'));
  if (channel.length) return cb(null, take(req.n));
  if (emptyMode !== 'block') {
    return cb(null, errorBatch('Tried several times, but did not get any events from the channel!'));
  }
  const deadline = Date.now() + 2000;
  const poll = setInterval(() => {
    if (channel.length) { clearInterval(poll); cb(null, take(req.n)); }
    else if (stopped || Date.now() > deadline) {
      clearInterval(poll);
      cb(null, errorBatch(stopped ? 'Spark sink has been stopped!'
                                  : 'Tried several times, but did not get any events from the channel!'));
    }
  }, 5);
});
server.onMessage('ack', (req, cb) => {
  const tx = open.get(req.sequenceNumber);
  if (!tx) { say({op: 'late-ack', seq: req.sequenceNumber}); return cb(null, null); }
  clearTimeout(tx.timer);
  open.delete(req.sequenceNumber);
  say({op: 'ack', seq: req.sequenceNumber, ids: tx.ids});
  cb(null, null);
});
server.onMessage('nack', (req, cb) => {
  if (!rollback(req.sequenceNumber, 'nack')) say({op: 'late-nack', seq: req.sequenceNumber});
  cb(null, null);
});

const listener = net.createServer((sock) => {
  sock.setNoDelay(true);
  sock.on('error', () => {});
  server.createChannel(sock);
});
listener.listen(0, '127.0.0.1', () => say({port: listener.address().port}));

readline.createInterface({input: process.stdin}).on('line', (line) => {
  const [cmd, n] = line.trim().split(/\s+/);
  if (cmd === 'add') {
    for (let i = 0; i < +n; i++) channel.push(total + i);
    total += +n;
  } else if (cmd === 'stop') {
    stopped = true;
  }
}).on('close', () => process.exit(0));
