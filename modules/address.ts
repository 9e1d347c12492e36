import type { TerraformElement } from "cdktf";

/**
 * Give a resource a fixed, readable Terraform address (`aws_db_proxy.main`) instead of the
 * path-plus-hash that cdktf derives for constructs nested in modules. Addresses are the contract
 * with existing state and tooling: they never change when code is reorganised.
 */
export function at<T extends TerraformElement>(element: T, name: string): T {
  element.overrideLogicalId(name);
  return element;
}

/** Tags for one named resource: the Name tag; everything else comes from the provider's default_tags. */
export function nameTag(name: string): { Name: string } {
  return { Name: name };
}
