/**
 * Batched delivery (docs/PROTOCOL.md "Batched delivery"), declared once for the server, the SDK, the
 * web client, the tests and the bench. A room socket opened with `?batch=<ms>` gets the frames the
 * room broadcasts gathered for at most that many milliseconds and sent as one WebSocket message: the
 * frames' JSON texts joined with a newline, which JSON text never holds unescaped. A socket opened
 * without it (or with `batch=0`) gets one frame per WebSocket message, as it always did.
 */
export const BATCH = {
  /** The room socket's connect query parameter: a whole number of milliseconds, 0 to BATCH.MAX_MS. */
  PARAM: 'batch',
  /** The longest a client may ask the server to hold a frame, in ms. */
  MAX_MS: 50,
  /** Between two frames of one WebSocket message. */
  SEPARATOR: '\n',
  /** A batch is sent at once, before its time, when its frames reach this many characters. */
  MAX_CHARS: 64 * 1024,
  /**
   * What the web client asks for (and so what the bench measures): the longest hold. Only a busy room
   * waits (a frame after a quiet spell goes at once), and there at most 50 ms, which a reader does not
   * notice, for a twentieth of a second's frames to each socket in one send (docs/PERFORMANCE.md).
   */
  WEB_CLIENT_MS: 50,
} as const

/**
 * The frames (JSON texts) one WebSocket message of a room socket carries: one for a plain socket,
 * one or more for a batched one. Splitting a plain socket's message is harmless: it holds no newline.
 */
export function splitFrames(data: string): string[] {
  return data.includes(BATCH.SEPARATOR) ? data.split(BATCH.SEPARATOR) : [data]
}
