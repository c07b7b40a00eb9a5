/** WebSocket close codes with their reasons (spec §3); always close with one of these. */

export interface CloseSpec {
  code: number
  reason: string
}

export const CLOSE = {
  NORMAL: { code: 1000, reason: '' },
  SHUTDOWN: { code: 1001, reason: 'SHUTDOWN' },
  BINARY_UNSUPPORTED: { code: 1003, reason: 'BINARY_UNSUPPORTED' },
  READ_ONLY: { code: 1008, reason: 'READ_ONLY' },
  TOO_LARGE: { code: 1009, reason: 'TOO_LARGE' },
  INTERNAL: { code: 1011, reason: 'INTERNAL' },
  SLOW_CONSUMER: { code: 1013, reason: 'SLOW_CONSUMER' },
  TOKEN_INVALID: { code: 4001, reason: 'TOKEN_INVALID' },
  TOKEN_EXPIRED: { code: 4001, reason: 'TOKEN_EXPIRED' },
  CONNECTION_LIMIT: { code: 4029, reason: 'CONNECTION_LIMIT' },
} as const satisfies Record<string, CloseSpec>
