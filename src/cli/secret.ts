/**
 * Reading a password for the CLI: never from an argument (it would sit in the shell history and in
 * `ps` for every local user to read). From a terminal, a prompt that does not echo, asked twice; from
 * a pipe, the first line of standard input.
 */

export interface SecretSource {
  isTTY: boolean
  /** Sets raw mode on a terminal (keys arrive one by one, nothing is echoed). */
  setRawMode?(on: boolean): void
  /** The bytes of standard input, as they arrive. */
  chunks(): AsyncIterable<Uint8Array>
  /** Where prompts go (stderr, so stdout stays clean for scripts). */
  prompt(text: string): void
}

/** The first line of a piped standard input, without its line ending. */
async function readLine(source: SecretSource): Promise<string> {
  const decoder = new TextDecoder()
  let text = ''
  for await (const chunk of source.chunks()) {
    text += decoder.decode(chunk, { stream: true })
    if (text.includes('\n')) break
  }
  return text.split(/\r?\n/, 1)[0] ?? ''
}

/** One line typed at a terminal with echo off; Ctrl-C or Ctrl-D gives up. */
async function readHidden(source: SecretSource, question: string): Promise<string> {
  source.prompt(question)
  source.setRawMode?.(true)
  const decoder = new TextDecoder()
  let typed = ''
  try {
    for await (const chunk of source.chunks()) {
      for (const ch of decoder.decode(chunk, { stream: true })) {
        if (ch === '\r' || ch === '\n') return typed
        if (ch === '\u0003' || ch === '\u0004') throw new Error('cancelled')
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('')
        else typed += ch
      }
    }
    throw new Error('standard input closed before the password was entered')
  } finally {
    source.setRawMode?.(false)
    source.prompt('\n')
  }
}

/** The new password: typed twice at a terminal (they must match), or the first line of a pipe. */
export async function readNewSecret(source: SecretSource): Promise<string> {
  if (!source.isTTY) return readLine(source)
  const first = await readHidden(source, 'New password: ')
  const again = await readHidden(source, 'Again: ')
  if (first !== again) throw new Error('the two passwords differ')
  return first
}

/** Standard input of this process as a SecretSource. */
export function processStdin(): SecretSource {
  const stdin = process.stdin
  // One iterator for the whole run, without `return`: leaving a loop early must not close stdin,
  // since the password is asked twice.
  const iterator = (stdin as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
  const chunks: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => ({ next: () => iterator.next() }) }
  return {
    isTTY: Boolean(stdin.isTTY),
    setRawMode: stdin.isTTY ? (on) => void stdin.setRawMode(on) : undefined,
    chunks: () => chunks,
    prompt: (text) => void process.stderr.write(text),
  }
}
