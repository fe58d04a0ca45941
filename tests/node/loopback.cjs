// Preloaded into third-party Node MCP servers under test: binds every listening socket to 127.0.0.1
// (they listen on all interfaces by default) and reports the port actually bound on stderr.
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" || typeof args[0] === "string") {
    const callbacks = args.slice(1).filter((a) => typeof a === "function");
    this.once("listening", () => process.stderr.write(`LISTENING ${this.address().port}\n`));
    return listen.call(this, Number(args[0]), "127.0.0.1", ...callbacks);
  }
  return listen.apply(this, args);
};
