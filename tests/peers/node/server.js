// A WebSocket echo server on Node's `ws`, run by the tests as a subprocess.
// Usage: node server.js [deflate|plain] [server_no_context_takeover] [JSON]
// JSON: more perMessageDeflate options, e.g. {"serverMaxWindowBits": 10}.
// Prints its port on the first line of stdout, then echoes until killed. On the client's
// close it answers with the same code and reason (ws does this by default).
"use strict";
const { WebSocketServer } = require("ws");

const mode = process.argv[2] || "deflate";
const noContextTakeover = process.argv.includes("server_no_context_takeover");
const options = process.argv.slice(3).find((arg) => arg.startsWith("{"));
const perMessageDeflate =
  mode === "deflate"
    ? {
        threshold: 0,
        serverNoContextTakeover: noContextTakeover,
        ...(options ? JSON.parse(options) : {}),
      }
    : false;

const server = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  perMessageDeflate,
  maxPayload: 64 * 1024 * 1024,
});
server.on("listening", () => {
  process.stdout.write(`${server.address().port}\n`);
});
server.on("connection", (socket, request) => {
  socket.send(JSON.stringify({ extensions: request.headers["sec-websocket-extensions"] || null }));
  socket.on("message", (data, isBinary) => {
    socket.send(data, { binary: isBinary });
  });
});
