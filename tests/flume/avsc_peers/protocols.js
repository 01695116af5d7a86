// Protocol objects for the avsc peers. Key order matches the compact JSON Java
// renders, so JSON.stringify of FLUME gives the same text and MD5 as fluvial's
// (handshake BOTH); FLUME_WITH_DOC carries the licence doc Flume's IDL compiler
// adds, so its MD5 differs (handshake NONE, then the resend with the text).
'use strict';

const EVENT_FIELDS = [
  {name: 'headers', type: {type: 'map', values: 'string'}},
  {name: 'body', type: 'bytes'},
];

const FLUME = {
  protocol: 'AvroSourceProtocol',
  namespace: 'org.apache.flume.source.avro',
  types: [
    {type: 'enum', name: 'Status', symbols: ['OK', 'FAILED', 'UNKNOWN']},
    {type: 'record', name: 'AvroFlumeEvent', fields: EVENT_FIELDS},
  ],
  messages: {
    append: {request: [{name: 'event', type: 'AvroFlumeEvent'}], response: 'Status'},
    appendBatch: {request: [{name: 'events', type: {type: 'array', items: 'AvroFlumeEvent'}}], response: 'Status'},
  },
};

const FLUME_WITH_DOC = Object.assign({}, FLUME, {
  doc: 'Licensed to the Apache Software Foundation (ASF) under one or more contributor license agreements.',
});

const SPARK_SINK = {
  protocol: 'SparkFlumeProtocol',
  namespace: 'org.apache.spark.streaming.flume.sink',
  types: [
    {type: 'record', name: 'SparkSinkEvent', fields: EVENT_FIELDS},
    {type: 'record', name: 'EventBatch', fields: [
      {name: 'errorMsg', type: 'string', default: ''},
      {name: 'sequenceNumber', type: 'string'},
      {name: 'events', type: {type: 'array', items: 'SparkSinkEvent'}},
    ]},
  ],
  messages: {
    getEventBatch: {request: [{name: 'n', type: 'int'}], response: 'EventBatch'},
    ack: {request: [{name: 'sequenceNumber', type: 'string'}], response: 'null'},
    nack: {request: [{name: 'sequenceNumber', type: 'string'}], response: 'null'},
  },
};

module.exports = {FLUME, FLUME_WITH_DOC, SPARK_SINK};
