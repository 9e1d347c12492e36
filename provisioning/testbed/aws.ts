/**
 * AWS stand-ins for the test bed, so the metrics publisher runs for real with no AWS account and no
 * traffic beyond the bridge:
 *  - an IMDSv2 stand-in served on the bridge address (PUT a token, then GET with it; a GET without
 *    a valid token gets 401, as on an instance that requires IMDSv2). The instance id is derived
 *    from the caller's address, so every host gets its own;
 *  - a recording `aws` executable put first on the host's PATH (/usr/local/bin). It writes its
 *    arguments and environment to stdout (the unit's journal) and does nothing else.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:http";
import { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { BRIDGE_IP, Testbed, TestHost } from "./index";

export interface ImdsStandIn {
  /** The value for `redis_metrics_imds_url`. */
  url: string;
  region: string;
  /** Every request: method, path, whether it carried a valid token, the answer's status. */
  requests: { from: string; method: string; path: string; token: boolean; status: number }[];
  instanceIdOf(ip: string): string;
  close(): Promise<void>;
}

/** i-0 followed by the caller's IPv4 address in hex, 17 hex digits like a real id. */
export const instanceIdOf = (ip: string): string =>
  `i-0${ip.split(".").map((n) => Number(n).toString(16).padStart(2, "0")).join("").padStart(16, "0")}`;

/** Serves the stand-in on `host` (the bridge address by default: the test hosts' side; loopback for local tests). */
export async function startImds(opts: { host?: string; region?: string } = {}): Promise<ImdsStandIn> {
  const region = opts.region ?? "eu-west-3";
  const host = opts.host ?? BRIDGE_IP;
  const tokens = new Set<string>();
  const requests: ImdsStandIn["requests"] = [];
  const server: Server = createServer((req, res) => {
    const from = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
    const path = req.url ?? "/";
    const token = tokens.has(String(req.headers["x-aws-ec2-metadata-token"] ?? ""));
    const answer = (status: number, body = "") => {
      requests.push({ from, method: req.method ?? "", path, token, status });
      res.writeHead(status, { "content-type": "text/plain" });
      res.end(body);
    };
    if (req.method === "PUT" && path === "/latest/api/token") {
      const ttl = Number(req.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (!(ttl >= 1 && ttl <= 21600)) return answer(400);
      const t = randomBytes(24).toString("base64");
      tokens.add(t);
      return answer(200, t);
    }
    if (req.method !== "GET") return answer(405);
    if (!token) return answer(401);
    if (path === "/latest/meta-data/instance-id") return answer(200, instanceIdOf(from));
    if (path === "/latest/meta-data/placement/region") return answer(200, region);
    return answer(404);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    region,
    requests,
    instanceIdOf,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export const AWS_RECORD_MARK = "AWS-STANDIN";

const AWS_STANDIN = `#!/bin/bash
# Test bed stand-in for the AWS CLI (provisioning/testbed/aws.ts): records, never calls AWS.
printf '${AWS_RECORD_MARK} args %s\\n' "$(printf '%s\\0' "$@" | base64 -w0)"
printf '${AWS_RECORD_MARK} env %s\\n' "$(env -0 | base64 -w0)"
exit 0
`;

/** Puts the recording aws first on a test host's PATH (or into any directory `bin`). */
export function installAwsStandIn(target: TestHost | { bin: string }): void {
  const bin = "bin" in target ? target.bin : join(target.dir, "usr/local/bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "aws"), AWS_STANDIN);
  chmodSync(join(bin, "aws"), 0o755);
}

export interface AwsCall {
  args: string[];
  env: Record<string, string>;
}

/** The calls recorded in a journal excerpt (`journalctl -o cat` output). */
export function parseAwsCalls(journal: string): AwsCall[] {
  const calls: AwsCall[] = [];
  const nul = (b64: string) => Buffer.from(b64, "base64").toString("utf8").split("\0").slice(0, -1);
  for (const line of journal.split("\n")) {
    const m = new RegExp(`^${AWS_RECORD_MARK} (args|env) (\\S*)$`).exec(line.trim());
    if (!m) continue;
    if (m[1] === "args") calls.push({ args: nul(m[2]), env: {} });
    else if (calls.length) calls[calls.length - 1].env = Object.fromEntries(nul(m[2]).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
  }
  return calls;
}

/**
 * Makes test bed hosts look like EC2 instances to the metrics publisher: the recording aws on the
 * given hosts (default: all), and the inventory's redis_metrics_imds_url pointing at a fresh IMDSv2
 * stand-in (close it when done).
 */
export async function awsStandIns(tb: Testbed, hosts: TestHost[] = tb.hosts): Promise<ImdsStandIn> {
  const imds = await startImds();
  hosts.forEach(installAwsStandIn);
  appendFileSync(join(dirname(tb.inventory), "group_vars", "asterisk.yml"), `redis_metrics_imds_url: "${imds.url}"\n`);
  return imds;
}
