// A client on Node's `ws`, run by the tests as a subprocess.
// Usage: node client.js URL TEXT [CODE REASON]: send TEXT, print the reply, then close with
// CODE and REASON, or without them wait for the server's close; last print "closed CODE REASON".
"use strict";
const WebSocket = require("ws");

const [url, text, code, reason] = process.argv.slice(2);
const socket = new WebSocket(url, { perMessageDeflate: false });
socket.on("open", () => socket.send(text));
socket.once("message", (data) => {
  process.stdout.write(`${data.toString()}\n`);
  if (code !== undefined) socket.close(Number(code), reason);
});
socket.on("close", (closeCode, closeReason) => {
  process.stdout.write(`closed ${closeCode} ${closeReason.toString()}\n`);
});
socket.on("error", (error) => {
  process.stdout.write(`error ${error.message}\n`);
});
