/**
 * The server's wire protocol, re-exported exactly as the server declares it (src/protocol*.ts):
 * types, frames, close codes, limits and paths are written once there and bundled into this package
 * at build time, never re-declared here.
 */
export * from '../../../src/protocol.ts'
export * from '../../../src/protocol-rooms.ts'
export * from '../../../src/protocol-conversation.ts'
export * from '../../../src/protocol-text.ts'
export * from '../../../src/protocol-frames.ts'
export * from '../../../src/protocol-account.ts'
export * from '../../../src/protocol-bots.ts'
export * from '../../../src/protocol-batch.ts'
