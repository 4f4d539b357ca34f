// Virtual disk names and the device numbers libxl gives them (libxl__device_disk_dev_number): the
// devid of a vbd, its xenstore directory name and blkfront's `virtual-device`.

/** Device number per libxl__device_disk_dev_number (xvda -> 51712 = 202 << 8 | disk << 4, xvdb ->
 * 51728, sdb -> 8 << 8 | 16, ...), or a reason the name is invalid. */
export function vdevNumber(vdev: string): number | string {
  if (/^[0-9]+$/.test(vdev)) {
    const n = Number(vdev);
    if (n < 1 || n > 0x7fffffff) return "a numeric vdev must be between 1 and 2147483647";
    return n;
  }
  const letters = (s: string) => {
    let d = 0;
    for (const ch of s) d = d * 26 + (ch.charCodeAt(0) - 96);
    return d - 1; // bijective base 26: a=0, z=25, aa=26
  };
  let m = /^(xvd|hd|sd)([a-z]+)([0-9]*)$/.exec(vdev);
  let disk: number, part: number, family: string;
  if (m) {
    family = m[1];
    if (m[2].length > 5) return "too many letters in the disk name";
    disk = letters(m[2]);
    if (m[3] !== "" && (m[3][0] === "0" || m[3].length > 3)) return "bad partition number";
    part = m[3] === "" ? 0 : Number(m[3]);
  } else if ((m = /^d([0-9]+)(?:p([0-9]+))?$/.exec(vdev))) {
    family = "xvd";
    if (m[1].length > 7 || (m[2] ?? "").length > 3) return "disk or partition number too large";
    disk = Number(m[1]);
    part = m[2] === undefined ? 0 : Number(m[2]);
  } else {
    return "expected xvd<letters>[partition], hd<a-d>[partition], sd<a-p>[partition], d<N>[p<M>] or a device number";
  }
  switch (family) {
    case "hd":
      if (disk > 3) return "only hda to hdd exist";
      if (part > 63) return "hd partitions go up to 63";
      return ((disk < 2 ? 3 : 22) << 8) | ((disk & 1) << 6) | part;
    case "sd":
      if (disk > 15) return "only sda to sdp exist";
      if (part > 15) return "sd partitions go up to 15";
      return (8 << 8) | (disk << 4) | part;
    default:
      if (disk > (1 << 20) - 1) return "disk index too large";
      if (part > 255) return "xvd partitions go up to 255";
      if (disk < 16 && part < 16) return (202 << 8) | (disk << 4) | part;
      return (1 << 28) | (disk << 8) | part;
  }
}

/** The device number of `vdev`, or an Error naming what is wrong with it. */
export function diskDevid(vdev: string): number {
  const n = vdevNumber(vdev);
  if (typeof n === "string") throw new Error(`bad virtual device ${JSON.stringify(vdev)}: ${n}`);
  return n;
}
