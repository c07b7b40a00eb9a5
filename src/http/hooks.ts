/**
 * POST /api/v1/hooks/:token: an incoming webhook (docs/BOTS.md). The token in the path is the only
 * credential, so no Authorization header is read; the body is `{"text": "…"}`, checked as a
 * message's text is on a socket, and the answer is the stored message.
 */
import { postThroughWebhook, type IncomingDeps } from '../chat/incoming-webhooks.ts'
import { checkText } from '../ws/frames.ts'
import { readJsonObject } from './body.ts'
import type { RequestContext } from './context.ts'
import { ok } from './respond.ts'
import type { Route } from './router.ts'

export function hookRoutes(deps: { incoming: IncomingDeps; maxTextLength: number }): Route<RequestContext>[] {
  return [
    {
      path: '/api/v1/hooks/:token',
      methods: {
        async POST(req, ctx, params) {
          const { text } = await readJsonObject(req)
          const checked = checkText(text, deps.maxTextLength)
          return ok({ message: await postThroughWebhook(deps.incoming, params.token!, checked, ctx.address) }, 201)
        },
      },
    },
  ]
}
