/** HTTP/1.x over a plain TCP socket, for requests fetch cannot make (no Host, odd Host, half a body). */

export interface RawResponse {
  status: number
  headers: Headers
  body: string
}

/**
 * Sends `head` and then `chunks` over a plain TCP socket and resolves with the first response,
 * without ever finishing the request body unless `chunks` does. This shows the server answering
 * before it has read the whole body, which fetch cannot.
 */
export async function rawRequest(port: number, head: string, chunks: (string | Uint8Array)[] = []): Promise<RawResponse> {
  const done = Promise.withResolvers<RawResponse>()
  let received = Buffer.alloc(0)
  const tryParse = (final: boolean) => {
    const end = received.indexOf('\r\n\r\n')
    if (end === -1) {
      if (final) done.reject(new Error(`connection closed without a response: ${JSON.stringify(received.toString())}`))
      return
    }
    const [statusLine, ...lines] = received.subarray(0, end).toString('latin1').split('\r\n')
    const headers = new Headers()
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
    }
    const length = Number(headers.get('content-length') ?? 0)
    if (received.length - end - 4 < length && !final) return
    done.resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: received.subarray(end + 4, end + 4 + length).toString('utf8') })
  }
  const socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data(_socket, data) {
        received = Buffer.concat([received, data])
        tryParse(false)
      },
      close() {
        tryParse(true)
      },
      error(_socket, err) {
        done.reject(err)
      },
    },
  })
  socket.write(head)
  for (const chunk of chunks) socket.write(chunk)
  try {
    return await done.promise
  } finally {
    socket.end()
  }
}
