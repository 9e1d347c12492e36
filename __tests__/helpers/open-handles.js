/**
 * Jest globalTeardown: names what would keep the test process alive after the run.
 * On a 2-core machine Jest runs the suite in band (maxWorkers = 1), so a socket, child process,
 * server or timer a test file left behind lives in this very process and Jest prints "did not exit
 * one second after the test run has completed" without saying which. This waits up to 1 s for
 * such handles to close on their own, then prints each that is still open (kind and what it is), so
 * a CI log names the culprit. It never fails the run. Worker processes (more cores) are not seen.
 */
function describe(h) {
  const kind = (h && h.constructor && h.constructor.name) || typeof h;
  try {
    if (kind === "ChildProcess") return `${kind} pid ${h.pid}: ${(h.spawnargs || []).join(" ").slice(0, 200)}`;
    if (kind === "Socket" || kind === "Pipe" || kind === "TLSSocket") {
      const fd = h._handle && h._handle.fd;
      if (fd === 0 || fd === 1 || fd === 2) return undefined; // the process's own stdio
      const peer = h.remoteAddress ? ` to ${h.remoteAddress}:${h.remotePort}` : "";
      return `${kind} fd ${fd}${peer}${h.localPort ? ` from port ${h.localPort}` : ""}`;
    }
    if (kind === "Server") return `${kind} listening on ${JSON.stringify(h.address && h.address())}`;
    if (kind === "Timeout") return `${kind} (${h._idleTimeout} ms): ${String(h._onTimeout).replace(/\s+/g, " ").slice(0, 160)}`;
    if (kind === "WriteStream" || kind === "ReadStream") return h.fd > 2 ? `${kind} fd ${h.fd} ${h.path || ""}` : undefined;
  } catch (e) {
    return `${kind} (${e.message})`;
  }
  return kind;
}

function open() {
  const handles = process._getActiveHandles().map(describe).filter(Boolean);
  // Timers are not handles: count the referenced ones (a pending timer also keeps Node alive).
  const timers = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  return timers > 0 ? [...handles, `${timers} pending timer(s)`] : handles;
}

module.exports = async () => {
  const deadline = Date.now() + 1000;
  let left = open();
  while (left.length > 0 && Date.now() < deadline) {
    // A referenced timer: with an unref'd one, a loop with nothing else left would end the process
    // here, before Jest sets its exit code, and a failed run would exit 0.
    await new Promise((r) => setTimeout(r, 50));
    left = open();
  }
  if (left.length > 0) {
    process.stderr.write(`open handles after the run (they keep Jest from exiting):\n${left.map((l) => `  - ${l}`).join("\n")}\n`);
    const traced = globalThis.__pendingTimerStacks;
    if (!traced) {
      process.stderr.write("  (TRACE_TIMERS=1 npx jest ... names where each pending timer was created)\n");
    } else {
      for (const { stack, resource } of traced.values()) {
        if (typeof resource.hasRef === "function" && !resource.hasRef()) continue;
        process.stderr.write(`  pending timer (${resource._idleTimeout} ms) created at:\n${stack}\n`);
      }
    }
  }
};
