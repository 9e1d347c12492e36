/**
 * Entry of the Asterisk-side worker bundle (build/asterisk-worker/index.js, run by systemd as
 * templates/asterisk-worker.service.hbs): `node index.js`. Configuration: lambdas/asterisk-worker/config.ts.
 * Exit 78 (EX_CONFIG) on a configuration error, so systemd does not restart it in a loop
 * (RestartPreventExitStatus=78); SIGTERM/SIGINT stop it in order (outbox flushed or saved).
 */
import { createLogger } from "../shared/logging";
import { loadWorkerConfig, WorkerConfigError } from "./config";
import { AsteriskWorker } from "./worker";

async function main(): Promise<void> {
  let cfg;
  try {
    cfg = loadWorkerConfig();
  } catch (e) {
    if (e instanceof WorkerConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(78);
    }
    throw e;
  }
  const log = createLogger(cfg.logLevel, { fn: "asterisk-worker" });
  const worker = new AsteriskWorker(cfg, log);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    worker.stop().then(
      () => process.exit(0),
      (error) => (log.error("stop failed", { error }), process.exit(1)),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  await worker.start();
  log.info("asterisk-worker started", { app: cfg.ari.app, health: `${cfg.health.host}:${worker.healthPort}` });
}

main().catch((error) => {
  process.stderr.write(`asterisk-worker: ${(error as Error).message}\n`);
  process.exit(1);
});
