/**
 * Task "install packages": runs only when the profile's packages are absent (a second round trip on
 * a fresh host): provisioning/scripts/install.sh with the profile as parameters.
 */
import type { OsProfile } from "../os";
import { Params, hostScript, profileParams } from "../scripts";

export const installScript = (p: OsProfile, params: Params = {}): string => hostScript({ ...params, ...profileParams(p) }, ["install"], "install_packages");
