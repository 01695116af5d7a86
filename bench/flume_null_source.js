// An avsc AvroSourceProtocol server that answers every call OK and stores
// nothing: the peer client's send rate alone, for bench/flume_bench.py.
// Prints {"port": p}. Needs avsc (npm ci --prefix tests/flume).
'use strict';

const net = require('net');
const avro = require('avsc');
const {FLUME} = require('../tests/flume/avsc_peers/protocols');

const server = avro.Service.forProtocol(FLUME).createServer();
server.onMessage('append', (req, cb) => cb(null, 'OK'));
server.onMessage('appendBatch', (req, cb) => cb(null, 'OK'));
const listener = net.createServer((sock) => { sock.setNoDelay(true); sock.on('error', () => {}); server.createChannel(sock); });
listener.listen(0, '127.0.0.1', () => console.log(JSON.stringify({port: listener.address().port})));
