/** DOM helpers. User data only ever enters the page as text (`textContent`), never as markup. */

/** The element with this id; a missing one is a bug in index.html, so it throws. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id)
  if (!el) throw new Error(`index.html has no #${id}`)
  return el as T
}

/** Creates an element with classes and, optionally, text content. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

/** One of eight colour classes, picked from the name, so a person keeps their colour everywhere. */
export function hueClass(name: string): string {
  let h = 0
  for (const ch of name.toLowerCase()) h = (h * 31 + ch.codePointAt(0)!) >>> 0
  return `hue-${h % 8}`
}

/** The first character of a name (a whole code point, so emoji survive), upper-cased. */
export function initialOf(name: string): string {
  return (Array.from(name.trim())[0] ?? '?').toUpperCase()
}

/** Shows (or clears) a form's error line, marking the field it is about. */
export function showError(line: HTMLElement, message: string | undefined, field?: HTMLInputElement): void {
  line.textContent = message ?? ''
  line.hidden = message === undefined
  line.parentElement?.querySelectorAll('input').forEach((input) => input.removeAttribute('aria-invalid'))
  if (field) {
    field.setAttribute('aria-invalid', 'true')
    field.focus()
  }
}

/** Disables a form's buttons while `work` runs. */
export async function busy(form: HTMLElement, work: () => Promise<void>): Promise<void> {
  const buttons = [...form.querySelectorAll('button')]
  for (const b of buttons) b.disabled = true
  form.setAttribute('aria-busy', 'true')
  try {
    await work()
  } finally {
    for (const b of buttons) b.disabled = false
    form.removeAttribute('aria-busy')
  }
}
