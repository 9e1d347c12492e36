import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { crc32, deflateRawSync } from "node:zlib";

/**
 * A deterministic zip of a directory: entries sorted by path, every timestamp 1980-01-01 00:00,
 * mode 0644, deflate level 9. Identical files give a byte-identical zip, so the archive, the
 * asset hash and the function's source_code_hash stay put across rebuilds of identical code
 * (cdktf's own ARCHIVE assets carry file mtimes, and spawn a node process per asset).
 */
export function zipDirectory(dir: string, zipPath: string): void {
  const files = listFiles(dir)
    .sort()
    .map((file) => ({ name: Buffer.from(relative(dir, file).split(sep).join("/"), "utf8"), data: readFileSync(file) }));
  // Each stack zips the same bundles: deflate them once per process.
  const fingerprint = files.reduce((h, f) => h.update(f.name).update("\0").update(f.data), createHash("sha256")).digest("hex");
  if (zipped.get(zipPath) === fingerprint && existsSync(zipPath)) return;
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { name, data } of files) {
    const compressed = deflateRawSync(data, { level: 9 });
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); // local file header
    writeCommon(local, 4, crc, compressed.length, data.length, name.length);
    locals.push(local, name, compressed);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); // central directory header
    central.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, zip 2.0 (so the mode below counts)
    writeCommon(central, 6, crc, compressed.length, data.length, name.length);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: regular file 0644
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + compressed.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); // end of central directory
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  mkdirSync(dirname(zipPath), { recursive: true });
  // Write then rename: a parallel synth (jest workers) never reads half a zip.
  const tmp = `${zipPath}.${process.pid}.tmp`;
  writeFileSync(tmp, Buffer.concat([...locals, ...centrals, end]));
  renameSync(tmp, zipPath);
  zipped.set(zipPath, fingerprint);
}

/** Zip path -> fingerprint of the files it was last written from, in this process. */
const zipped = new Map<string, string>();

/** version needed, flags, method, time, date, crc, sizes, name length (the part both headers share). */
function writeCommon(header: Buffer, at: number, crc: number, compressedSize: number, size: number, nameLength: number): void {
  header.writeUInt16LE(20, at); // version needed: 2.0 (deflate)
  header.writeUInt16LE(0x0800, at + 2); // flags: UTF-8 names
  header.writeUInt16LE(8, at + 4); // method: deflate
  header.writeUInt16LE(0, at + 6); // time 00:00:00
  header.writeUInt16LE((0 << 9) | (1 << 5) | 1, at + 8); // date 1980-01-01
  header.writeUInt32LE(crc, at + 10);
  header.writeUInt32LE(compressedSize, at + 14);
  header.writeUInt32LE(size, at + 18);
  header.writeUInt16LE(nameLength, at + 22);
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}
