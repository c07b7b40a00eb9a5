/**
 * A typed client for the chat server: REST calls, login with automatic token refresh (or a bot's API
 * token), room and user-stream sockets that follow the protocol's close-code policy and resume
 * without gaps, and the check of signed webhook deliveries.
 * The wire protocol's types and constants are re-exported as the server declares them.
 */
export { ChatClient, type ChatClientOptions, type ClientEvents, type SessionChange, type UploadBody } from './client.ts'
export { AdminApi } from './admin.ts'
export { verifyWebhook, WebhookError, type VerifyWebhookOptions, type WebhookErrorType, type WebhookHeaders } from './webhook-signature.ts'
export { ChatError, type ChatErrorType } from './errors.ts'
export { RoomSocket, type MessageSource, type PostOptions, type RoomEvents, type RoomOptions } from './room.ts'
export { UserStream, type UserStreamEvents } from './user-stream.ts'
export {
  backoffDelay,
  DEFAULT_RECONNECT,
  type ReconnectOptions,
  type SocketState,
  type StopReason,
  type WebSocketConstructor,
  type WebSocketLike,
} from './connection.ts'
export { readTokenTimes } from './token.ts'
export type { FetchLike } from './http.ts'
export * from './protocol.ts'
