/**
 * Text from outside the host (the model's replies, cell output, error messages that quote them) made safe to
 * print on a terminal. Escape sequences in it would otherwise act on the user's terminal: `ESC[2J` clears the
 * screen, an OSC sequence (`ESC]0;…BEL`) sets the window title, BEL rings, and a bare carriage return lets later
 * text overwrite what was printed before it on the line (hiding, say, a line of code).
 */

/**
 * Control characters that are neither `\n` nor `\t`: C0 (U+0000–U+001F), DEL (U+007F), C1 (U+0080–U+009F, which
 * include the one-byte CSI U+009B and OSC U+009D), and the bidirectional overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069) that reorder how a line is shown.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control character except newline and tab written out visibly instead of sent to the
 * terminal: `\r\n` becomes `\n`; a lone `\r` becomes the two characters `\r`; ESC, BEL and the others become
 * `\x1b`, `\x07`, … (`\u202e` for the bidirectional controls). An escape sequence thus shows as text
 * (`\x1b[2J`) and does nothing. Plain text, newlines and tabs are returned unchanged.
 */
export function terminalSafe(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(UNSAFE, (c) => {
    if (c === '\r') return '\\r';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}
