/**
 * Jest globalSetup, opt-in with TRACE_TIMERS=1: records where every timer is created (async_hooks,
 * process-wide, so timers made inside test files count), so that open-handles.js can name the
 * creation site of a timer still pending after the run. Off by default: a stack per timer costs.
 */
module.exports = async () => {
  if (process.env.TRACE_TIMERS !== "1") return;
  const { createHook } = require("node:async_hooks");
  const timers = new Map();
  globalThis.__pendingTimerStacks = timers;
  createHook({
    init(id, type, _trigger, resource) {
      if (type !== "Timeout") return;
      const stack = new Error().stack.split("\n").slice(2).filter((l) => !l.includes("node:internal") && !l.includes("async_hooks")).slice(0, 8).join("\n");
      timers.set(id, { stack, resource });
    },
    destroy(id) {
      timers.delete(id);
    },
  }).enable();
};
