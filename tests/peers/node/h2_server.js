// An RFC 8441 peer: Node's http2 server with enableConnectProtocol, echoing WebSocket frames.
//
// Node's ws cannot run over an HTTP/2 stream (it needs a net.Socket), so each extended
// CONNECT stream is answered 200 and its frames are echoed by hand: text, binary and
// continuation frames come back unmasked, a ping gets its pong, a close its close.
//
// Usage: node h2_server.js [--no-connect-protocol] [--zero-window] [--max-streams=N]
// Prints the port on the first line. Paths choose a behaviour:
//   /echo (any other path too)  echo
//   /reject                     403 with a body
//   /reset                      200, then RST_STREAM(CANCEL) after the first frame
//   /goaway?last=N              200, then GOAWAY(NO_ERROR, last stream N)
//   /kill                       200, then the TCP connection is destroyed (reset)
//   /close                      200, then a close frame 4001 "server says bye"; the client's
//                               close reply ends the stream (END_STREAM, no second close)
// Every 200 carries x-connections: the TCP connections this server has accepted so far, and
// x-closes: JSON {stream id: RST_STREAM code} of this session's closed streams (0: ended
// cleanly, with END_STREAM both ways).
"use strict";
const http2 = require("http2");

const noConnect = process.argv.includes("--no-connect-protocol");
const zeroWindow = process.argv.includes("--zero-window");
const settings = { enableConnectProtocol: !noConnect };
if (zeroWindow) settings.initialWindowSize = 0;
const maxStreams = process.argv.find((arg) => arg.startsWith("--max-streams="));
if (maxStreams) settings.maxConcurrentStreams = Number(maxStreams.split("=")[1]);

let connections = 0;
const server = http2.createServer({ settings });
server.on("connection", () => { connections += 1; });
server.on("sessionError", () => {});

function frame(opcode, payload) {
  const n = payload.length;
  let head;
  if (n < 126) {
    head = Buffer.from([0x80 | opcode, n]);
  } else if (n < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode; head[1] = 126; head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode; head[1] = 127; head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

// Yields [fin, opcode, payload] for each whole frame at the head of chunks; keeps the rest.
function parseFrames(state) {
  const out = [];
  for (;;) {
    const buf = state.buf;
    if (buf.length < 2) break;
    let len = buf[1] & 0x7f;
    let off = 2;
    if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); off = 4; }
    else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); off = 10; }
    const masked = (buf[1] & 0x80) !== 0;
    const maskOff = off;
    if (masked) off += 4;
    if (buf.length < off + len) break;
    const payload = Buffer.from(buf.subarray(off, off + len));
    if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[maskOff + (i & 3)];
    out.push([(buf[0] & 0x80) !== 0, buf[0] & 0x0f, payload]);
    state.buf = buf.subarray(off + len);
  }
  return out;
}

function echo(stream, onFirstFrame, sentClose = false) {
  const state = { buf: Buffer.alloc(0) };
  let first = true;
  stream.on("data", (chunk) => {
    state.buf = state.buf.length ? Buffer.concat([state.buf, chunk]) : chunk;
    for (const [fin, opcode, payload] of parseFrames(state)) {
      if (first && onFirstFrame) { first = false; onFirstFrame(); return; }
      first = false;
      let reply;
      if (opcode === 0x9) reply = frame(0xa, payload);
      else if (opcode === 0xa) continue;
      else if (opcode === 0x8) { stream.end(sentClose ? undefined : frame(0x8, payload)); return; }
      else {
        reply = frame(opcode, payload);
        if (!fin) reply[0] &= 0x7f;
      }
      if (!stream.write(reply)) {
        stream.pause();
        stream.once("drain", () => stream.resume());
      }
    }
  });
  stream.on("error", () => {});
}

server.on("stream", (stream, headers) => {
  const url = new URL(headers[":path"] || "/", "http://x");
  const isWebSocket = headers[":method"] === "CONNECT" && headers[":protocol"] === "websocket";
  if (!isWebSocket) { stream.respond({ ":status": 400 }); stream.end("not a websocket"); return; }
  if (url.pathname === "/reject") {
    stream.respond({ ":status": 403, "x-why": "forbidden here" });
    stream.end("no websocket for you");
    return;
  }
  const session = stream.session;
  if (!session.closes) session.closes = {};
  stream.on("close", () => { session.closes[stream.id] = stream.rstCode; });
  const response = {
    ":status": 200,
    "x-connections": String(connections),
    "x-closes": JSON.stringify(session.closes),
  };
  const offered = headers["sec-websocket-protocol"];
  if (offered) response["sec-websocket-protocol"] = offered.split(",")[0].trim();
  stream.respond(response);
  if (url.pathname === "/reset") {
    echo(stream, () => stream.close(http2.constants.NGHTTP2_CANCEL));
  } else if (url.pathname === "/goaway") {
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, Number(url.searchParams.get("last") || 0));
    echo(stream);
  } else if (url.pathname === "/close") {
    const code = Buffer.alloc(2);
    code.writeUInt16BE(4001, 0);
    stream.write(frame(0x8, Buffer.concat([code, Buffer.from("server says bye")])));
    echo(stream, undefined, true);
  } else if (url.pathname === "/kill") {
    setImmediate(() => session.socket.resetAndDestroy());
  } else {
    echo(stream);
  }
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${server.address().port}\n`);
});
