/**
 * The page's one ChatClient (packages/client, the SDK): every REST call and socket of the web client
 * goes through it, so the protocol's client side (envelope, errors, token refresh, close-code
 * policy, resume) is written once, there. Its session is the page's, kept by session.ts.
 */
import { ChatClient } from '../../packages/client/src/index.ts'

export const client = new ChatClient()
