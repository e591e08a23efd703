/**
 * Image headers read without decoding: the width and height of a PNG (IHDR chunk) or a JPEG (its SOF
 * marker). Plain Uint8Array, so the host and the renderer can both use it.
 */

export interface ImageSize {
  type: 'png' | 'jpeg';
  width: number;
  height: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!;

/** Width and height of a PNG from its IHDR chunk (the first 24 bytes are enough), or null. */
function pngSize(b: Uint8Array): ImageSize | null {
  if (b.length < 24 || !PNG_SIGNATURE.every((v, i) => b[i] === v)) return null;
  if (String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!) !== 'IHDR') return null;
  return { type: 'png', width: u32(b, 16), height: u32(b, 20) };
}

/**
 * Width and height of a JPEG from its first start-of-frame marker (SOF0–SOF15 except DHT, JPG and DAC),
 * walking the marker segments from the start; null when there is none.
 */
function jpegSize(b: Uint8Array): ImageSize | null {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let at = 2;
  while (at + 3 < b.length) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    // Markers without a length: TEM, RST0–7, SOI, EOI.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) {
      at += 2;
      continue;
    }
    const length = u16(b, at + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (at + 9 > b.length) return null;
      return { type: 'jpeg', height: u16(b, at + 5), width: u16(b, at + 7) };
    }
    if (marker === 0xda) return null; // start of scan before any frame header
    at += 2 + length;
  }
  return null;
}

/** The type, width and height of a PNG or JPEG, read from its header; null for anything else. */
export function imageSize(bytes: Uint8Array): ImageSize | null {
  return pngSize(bytes) ?? jpegSize(bytes);
}
