/**
 * SIGINT in the middle of a run used to print only `interrupted (SIGINT): released 1 host lock(s)`:
 * no recap, nothing about a host left with its new config in place and the restart still pending.
 * Now each host still running says what it had changed, and the recap follows.
 */
import { spawn } from "node:child_process";
import { type AddressInfo, type Socket, createServer } from "node:net";
import { join } from "node:path";
import { Output } from "../../provisioning/output";
import { inventory } from "./inventories";

describe("an interrupted run", () => {
  it("says per host what had changed (its notifications stay pending for the next run), then the recap", () => {
    let text = "";
    const out = new Output({ json: false, diff: false, check: false, write: (s) => (text += s) });
    out.start(["ast1", "ast2", "ast3"]);
    out.task("ast1", { task: "gather facts", status: "ok", msg: "debian 12" });
    out.task("ast1", { task: "write config", status: "changed", msg: "/etc/redis/redis.conf" });
    out.task("ast2", { task: "gather facts", status: "ok", msg: "debian 12" });
    out.task("ast3", { task: "verify", status: "ok", msg: "PONG" });
    out.interrupted("SIGINT", 1200);
    expect(text).toContain(
      "interrupted: [ast1] SIGINT => stopped after these changed: write config; what they notified (a restart, a reload) is still pending on the host, and the next run does it\n",
    );
    expect(text).toContain("interrupted: [ast2] SIGINT => stopped before any change\n");
    expect(text).not.toContain("[ast3] SIGINT");
    expect(text).toMatch(/PLAY RECAP\nast1 : ok=2 changed=1 failed=0 unreachable=0 skipped=0\n/);
  });

  it("prints that from the real CLI process on SIGINT, and exits 130", async () => {
    // A TCP server that accepts and never speaks SSH: the run is still connecting when the signal comes.
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as AddressInfo;
    const dir = inventory({ hosts: `[asterisk]\nast1 ansible_host=127.0.0.1 ansible_port=${port} ansible_timeout=60\n` });
    const child = spawn(process.execPath, [join(__dirname, "../../provisioning/run.cjs"), "-i", dir], {
      env: { ...process.env, REDIS_PASSWORD: "interrupt-pass-1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let sent = false;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      // Twice, as a terminal's Ctrl-C under `npm run` arrives (the group's signal, and npm's forward).
      if (stdout.includes("PLAY [") && !sent) sent = child.kill("SIGINT") && child.kill("SIGINT");
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    sockets.forEach((x) => x.destroy());
    silent.close();
    expect(code).toBe(130);
    expect(stderr).toContain("interrupted (SIGINT): released 0 host lock(s)");
    expect(stdout).toContain("interrupted: [ast1] SIGINT => stopped before any change\n");
    expect(stdout).toMatch(/PLAY RECAP\nast1 : ok=0 changed=0/);
  }, 60_000);
});
