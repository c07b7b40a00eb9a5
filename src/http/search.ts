/** `GET /api/v1/search` (spec §7): messages the caller may read whose text contains `q`, newest first, with excerpts. */
import type { AttemptLimiter } from '../auth/rate-limit.ts'
import type { TokenService } from '../auth/tokens.ts'
import { admitSearch, searchMessages } from '../chat/search.ts'
import { CONVERSATION_LIMITS, CONVERSATION_PATHS } from '../protocol-conversation.ts'
import type { Store } from '../store/store.ts'
import { optionalToken } from './bearer.ts'
import type { RequestContext } from './context.ts'
import { intParam } from './query.ts'
import { ok } from './respond.ts'
import type { Route } from './router.ts'

export interface SearchRouteDeps {
  store: Pick<Store, 'searchMessages' | 'listReactions'>
  tokens: Pick<TokenService, 'verify'>
  /** SEARCH_LIMIT_PER_MINUTE, per user or (anonymous) per address. */
  searchLimit: AttemptLimiter
}

export function searchRoutes({ store, tokens, searchLimit }: SearchRouteDeps): Route<RequestContext>[] {
  return [
    {
      path: CONVERSATION_PATHS.search,
      methods: {
        // Anonymous callers search public rooms; a token adds the caller's private rooms and DMs.
        async GET(req, ctx) {
          const userId = (await optionalToken(req, tokens))?.user.id ?? null
          const { query } = ctx
          await admitSearch(searchLimit, userId, ctx.address)
          const page = await searchMessages(store, userId, {
            q: query.get('q'),
            room: query.get('room') ?? undefined,
            before: intParam(query, 'before', 1, Number.MAX_SAFE_INTEGER),
            limit: intParam(query, 'limit', 1, CONVERSATION_LIMITS.SEARCH_PAGE_MAX),
          })
          return ok(page)
        },
      },
    },
  ]
}
