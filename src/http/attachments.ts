/**
 * Attachments over HTTP (spec §7): `POST /api/v1/rooms/{room}/attachments?filename=` takes the raw
 * bytes as they arrive (never the whole body in memory; 413 as soon as the limit is passed, whether
 * or not a Content-Length was sent), and `GET /api/v1/attachments/{id}` serves them to those who may
 * read the room. Only PNG, JPEG, GIF and WebP (judged from the bytes) are served inline; everything
 * else is a download in a sandbox, and nothing is ever sniffed.
 */
import type { TokenService } from '../auth/tokens.ts'
import { isAttachmentId, isInlineType, type Attachments } from '../chat/attachments.ts'
import { AppError } from '../errors.ts'
import type { RequestContext } from './context.ts'
import { optionalToken, requireToken } from './bearer.ts'
import { ok } from './respond.ts'
import type { Params, Route } from './router.ts'
import { checkRoom } from './rooms.ts'

export interface AttachmentRouteDeps {
  attachments: Attachments
  tokens: Pick<TokenService, 'verify'>
}

/** RFC 8187 ext-value: UTF-8, percent-encoded beyond attr-char (which has no ' ( ) *). */
const extValue = (name: string) => `UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`

/** The headers every attachment is served with (spec §7), by whether its type may show inline. */
export function attachmentHeaders(type: string, name: string, size: number): Record<string, string> {
  const inline = isInlineType(type)
  return {
    'Content-Type': inline ? type : 'application/octet-stream',
    'Content-Disposition': `${inline ? 'inline' : 'attachment'}; filename*=${extValue(name)}`,
    'Content-Length': String(size),
    'X-Content-Type-Options': 'nosniff',
    // Whatever a browser makes of it, it runs in a sandbox: no script, form or plugin on the server's origin.
    'Content-Security-Policy': 'sandbox',
    // A private room's file: no shared cache may keep it, and no other site may embed it.
    'Cache-Control': 'private, no-cache',
    'Cross-Origin-Resource-Policy': 'same-origin',
  }
}

/** A declared Content-Length, if there is a well-formed one. */
function declaredLength(req: Request): number | undefined {
  const raw = req.headers.get('content-length')
  return raw !== null && /^\d{1,16}$/.test(raw) ? Number(raw) : undefined
}

/** An id that cannot be one names nothing: the same 404 as an unknown one, before any look-up. */
function checkId(params: Params): void {
  if (!isAttachmentId(params.id!)) throw new AppError('NOT_FOUND', 'no such attachment')
}

export function attachmentRoutes({ attachments, tokens }: AttachmentRouteDeps): Route<RequestContext>[] {
  return [
    {
      path: '/api/v1/rooms/:room/attachments',
      check: checkRoom,
      largeBody: true,
      methods: {
        // spec §7: anyone who may post in the room (logged in; a member of a private one).
        async POST(req, ctx, params) {
          const { user } = await requireToken(req, tokens)
          const upload = { room: params.room!, user, filename: ctx.query.get('filename'), body: req.body, declaredBytes: declaredLength(req) }
          return ok(await attachments.upload(upload), 201)
        },
      },
    },
    {
      path: '/api/v1/attachments/:id',
      check: checkId,
      methods: {
        // spec §7: served at its url only to those who may read the room (anyone, for a public one).
        async GET(req, _ctx, params) {
          const reader = (await optionalToken(req, tokens))?.user.id ?? null
          const { record, body } = await attachments.open(params.id!, reader)
          return new Response(body, { status: 200, headers: attachmentHeaders(record.type, record.name, record.size) })
        },
      },
    },
  ]
}
