import { SecretsmanagerSecret } from "@cdktf/provider-aws/lib/secretsmanager-secret";
import { SecretsmanagerSecretVersion } from "@cdktf/provider-aws/lib/secretsmanager-secret-version";
import { Password } from "@cdktf/provider-random/lib/password";
import { Fn } from "cdktf";
import { Construct } from "constructs";
import { PASSWORD_FIELD } from "../../lambdas/contracts/secrets";
import { at, nameTag } from "../address";

export interface GeneratedSecretProps {
  /** Secrets Manager name, e.g. `campaign-prod/redis-password`. */
  readonly secretName: string;
  readonly description: string;
  /** Address of the random_password, e.g. `redis` -> random_password.redis. */
  readonly passwordAddress: string;
  /** Address of the secret and its version, e.g. `redis_password`. */
  readonly secretAddress: string;
  /** @default 32 */
  readonly length?: number;
  /** Days a deleted secret can still be restored; 0 deletes it at once (its name is free again). @default 7 */
  readonly recoveryWindowInDays?: number;
  /** lifecycle.prevent_destroy on the secret and its version. @default false */
  readonly preventDestroy?: boolean;
}

/** `lifecycle.prevent_destroy` when asked for, nothing otherwise (disposable environments keep their JSON as is). */
export function protect(preventDestroy: boolean | undefined): { lifecycle?: { preventDestroy: true } } {
  return preventDestroy ? { lifecycle: { preventDestroy: true } } : {};
}

/**
 * A generated password kept in Secrets Manager as `{"password": "..."}` (what provisioning and
 * the Lambdas read). The value lives in Terraform state only: the synthesized JSON holds a
 * reference to random_password.<passwordAddress>.result, never the password.
 *
 * Addresses: random_password.<passwordAddress>, aws_secretsmanager_secret.<secretAddress>,
 * aws_secretsmanager_secret_version.<secretAddress>.
 */
export class GeneratedSecret extends Construct {
  readonly secret: SecretsmanagerSecret;
  /** The secret's value: whoever reads the secret at boot waits for it. */
  readonly version: SecretsmanagerSecretVersion;
  readonly arn: string;

  constructor(scope: Construct, id: string, props: GeneratedSecretProps) {
    super(scope, id);
    // Alphanumeric: safe in redis.conf, URLs and shell without quoting.
    const password = at(new Password(this, "password", { length: props.length ?? 32, special: false }), props.passwordAddress);
    this.secret = at(
      new SecretsmanagerSecret(this, "secret", {
        name: props.secretName,
        description: props.description,
        recoveryWindowInDays: props.recoveryWindowInDays ?? 7,
        ...protect(props.preventDestroy),
        tags: nameTag(props.secretName.replace(/\//g, "-")),
      }),
      props.secretAddress,
    );
    this.version = at(
      new SecretsmanagerSecretVersion(this, "version", {
        secretId: this.secret.id,
        secretString: Fn.jsonencode({ [PASSWORD_FIELD]: password.result }),
        ...protect(props.preventDestroy),
      }),
      props.secretAddress,
    );
    this.arn = this.secret.arn;
  }
}
