/**
 * What a person does with rooms (spec §6): create one (public or private, with a topic), start a
 * direct message by username, join and leave, and, for a room they own (or as an admin), add and
 * remove its members. The open room's header shows its topic and the actions that apply.
 */
import { ChatError, isDmName, type Me, type RoomInfo, type User, type Visibility } from '../../packages/client/src/index.ts'
import { client } from './client.ts'
import { busy, byId, el, hueClass, initialOf, showError } from './dom.ts'
import type { MyRooms } from './my-rooms.ts'
import { explainRoomName, roomHash } from './room-list.ts'
import { describeError } from './words.ts'

export interface RoomActionsDeps {
  /** The logged-in user with their role, once known. */
  me(): Me | User | undefined
  myRooms: MyRooms
  /** Fetches the user's rooms now (the user stream's `room` event would follow too). */
  refreshMyRooms(): Promise<void>
  /** A refused token ends the session; true when it did. */
  endIfRefused(err: unknown): boolean
}

function isAdmin(me: Me | User | undefined): boolean {
  return me !== undefined && 'role' in me && me.role === 'admin'
}

/** The sidebar's "create a room" dialog and "new direct message" form. */
export class SidebarActions {
  private readonly dialog = byId<HTMLDialogElement>('create-room-dialog')
  private readonly form = byId<HTMLFormElement>('create-room-form')
  private readonly name = byId<HTMLInputElement>('create-room-name')
  private readonly topic = byId<HTMLInputElement>('create-room-topic')
  private readonly error = byId('create-room-error')
  private readonly dmForm = byId<HTMLFormElement>('new-dm')
  private readonly dmName = byId<HTMLInputElement>('new-dm-name')
  private readonly dmError = byId('new-dm-error')
  private readonly dmToggle = byId<HTMLButtonElement>('new-dm-button')

  constructor(private readonly deps: RoomActionsDeps) {
    byId('create-room-button').addEventListener('click', () => this.openCreate())
    byId('create-room-cancel').addEventListener('click', () => this.dialog.close())
    this.form.addEventListener('submit', (e) => {
      e.preventDefault()
      void busy(this.form, () => this.create())
    })
    this.dmToggle.addEventListener('click', () => this.toggleDm(this.dmForm.hidden))
    this.dmForm.addEventListener('submit', (e) => {
      e.preventDefault()
      void busy(this.dmForm, () => this.startDm())
    })
    this.dmForm.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.toggleDm(false)
    })
  }

  private openCreate(): void {
    this.form.reset()
    showError(this.error, undefined)
    this.dialog.showModal()
    this.name.focus()
  }

  private async create(): Promise<void> {
    if (!client.token) return
    const name = this.name.value.trim()
    const problem = explainRoomName(name)
    if (problem) return showError(this.error, problem, this.name)
    const visibility = (this.form.querySelector<HTMLInputElement>('input[name="visibility"]:checked')?.value ?? 'public') as Visibility
    try {
      const topic = this.topic.value.trim()
      await client.createRoom(name, { visibility, topic: topic === '' ? undefined : topic })
    } catch (err) {
      if (this.deps.endIfRefused(err)) return this.dialog.close()
      return showError(this.error, describeError(err), err instanceof ChatError && err.type !== 'BAD_BINDING' ? this.name : this.topic)
    }
    this.dialog.close()
    await this.deps.refreshMyRooms()
    location.hash = roomHash(name)
  }

  private toggleDm(open: boolean): void {
    this.dmForm.hidden = !open
    this.dmToggle.setAttribute('aria-expanded', String(open))
    showError(this.dmError, undefined)
    if (open) this.dmName.focus()
    else this.dmName.value = ''
  }

  private async startDm(): Promise<void> {
    const username = this.dmName.value.trim()
    if (!client.token) return
    if (username === '') return showError(this.dmError, 'Type the username of the person to write to.', this.dmName)
    let room: string
    try {
      room = await client.openDm(username)
    } catch (err) {
      if (this.deps.endIfRefused(err)) return
      return showError(this.dmError, describeError(err), this.dmName)
    }
    this.toggleDm(false)
    await this.deps.refreshMyRooms()
    location.hash = roomHash(room)
  }
}

/** The open room's header (topic, Join, Leave, Members) and its members dialog. */
export class RoomHeader {
  private room: string | undefined
  private info: RoomInfo | undefined
  private gone = false
  private confirmingLeave = false
  private readonly topic = byId('room-topic')
  private readonly join = byId<HTMLButtonElement>('join-room')
  private readonly leave = byId<HTMLButtonElement>('leave-room')
  private readonly manage = byId<HTMLButtonElement>('manage-members')
  private readonly dialog = byId<HTMLDialogElement>('members-dialog')
  private readonly list = byId<HTMLUListElement>('room-member-list')
  private readonly note = byId('members-dialog-note')
  private readonly addForm = byId<HTMLFormElement>('add-member-form')
  private readonly addName = byId<HTMLInputElement>('add-member-name')
  private readonly error = byId('members-dialog-error')

  constructor(private readonly deps: RoomActionsDeps) {
    this.join.addEventListener('click', () => void this.act(this.join, (room) => client.joinRoom(room)))
    this.leave.addEventListener('click', () => this.leaveClicked())
    this.manage.addEventListener('click', () => void this.openMembers())
    byId('members-dialog-close').addEventListener('click', () => this.dialog.close())
    this.addForm.addEventListener('submit', (e) => {
      e.preventDefault()
      void busy(this.addForm, () => this.add())
    })
  }

  /** The route's room (undefined: none); its registration is fetched for the topic and owner. */
  setRoom(room: string | undefined): void {
    if (room === this.room) return
    this.room = room
    this.info = undefined
    this.gone = false
    this.confirmingLeave = false
    if (this.dialog.open) this.dialog.close()
    this.update()
    void this.load()
  }

  /** 4004 on the room's socket (or back from it): no actions on a room this user can't see. */
  setGone(gone: boolean): void {
    if (gone === this.gone) return
    this.gone = gone
    if (gone && this.dialog.open) this.dialog.close()
    if (!gone) void this.load()
    else this.update()
  }

  /** Fetches the room's registration again (after a login, a membership change). */
  async load(): Promise<void> {
    const room = this.room
    if (room === undefined) return
    try {
      const info = await client.getRoom(room)
      if (room === this.room) this.info = info
    } catch {
      if (room === this.room) this.info = undefined
    }
    if (room === this.room) this.update()
  }

  /** Shows the topic and the actions that apply now (logged in or not, in the room's list or not). */
  update(): void {
    const room = this.room
    const loggedIn = client.token !== undefined
    const dm = room !== undefined && isDmName(room)
    const listed = room !== undefined && this.deps.myRooms.has(room)
    const topic = this.info?.topic ?? this.deps.myRooms.get(room ?? '')?.topic ?? null
    this.topic.textContent = topic ?? ''
    this.topic.hidden = !topic || this.gone
    const usable = loggedIn && room !== undefined && !dm && !this.gone
    this.join.hidden = !usable || listed || this.info?.visibility !== 'public'
    this.leave.hidden = !usable || !listed
    this.leave.textContent = this.confirmingLeave ? 'Leave? You need to be added again' : 'Leave'
    this.leave.classList.toggle('danger', this.confirmingLeave)
    this.manage.hidden = !usable || (this.info === undefined && !listed)
  }

  private leaveClicked(): void {
    const privateRoom = this.info?.visibility === 'private' || this.deps.myRooms.get(this.room ?? '')?.visibility === 'private'
    if (privateRoom && !this.confirmingLeave) {
      this.confirmingLeave = true
      return this.update()
    }
    this.confirmingLeave = false
    void this.act(this.leave, async (room) => {
      await client.leaveRoom(room)
      if (privateRoom) location.hash = '#/'
    })
  }

  /** Runs a join or leave, then shows the room list as it is now. */
  private async act(button: HTMLButtonElement, work: (room: string) => Promise<void>): Promise<void> {
    const room = this.room
    if (!client.token || room === undefined) return
    button.disabled = true
    try {
      await work(room)
      await this.deps.refreshMyRooms()
    } catch (err) {
      if (!this.deps.endIfRefused(err)) button.title = describeError(err)
    } finally {
      button.disabled = false
      this.update()
    }
  }

  private canManage(): boolean {
    const me = this.deps.me()
    return me !== undefined && (this.info?.owner?.id === me.id || isAdmin(me))
  }

  private async openMembers(): Promise<void> {
    if (this.room === undefined) return
    byId('members-dialog-title').textContent = `Members of #${this.room}`
    showError(this.error, undefined)
    this.addName.value = ''
    this.list.replaceChildren()
    this.dialog.showModal()
    await this.renderMembers()
    if (!this.addForm.hidden) this.addName.focus()
  }

  private async renderMembers(): Promise<void> {
    const room = this.room
    if (room === undefined) return
    const manage = this.canManage()
    this.addForm.hidden = !manage
    const owner = this.info?.owner
    this.note.textContent = manage
      ? this.info?.visibility === 'private'
        ? 'Only members can read this private room. Removing someone closes it for them at once.'
        : 'People who joined this room.'
      : owner
        ? `Owned by ${owner.username}. Only the owner can add or remove members.`
        : 'People who joined this room.'
    let members: User[]
    try {
      members = await client.members(room)
    } catch (err) {
      if (!this.deps.endIfRefused(err)) showError(this.error, describeError(err))
      return
    }
    if (room !== this.room) return
    const me = this.deps.me()
    this.list.replaceChildren(
      ...members.map((u) => {
        const li = el('li', `room-member ${hueClass(u.username)}`)
        li.dataset.username = u.username
        const avatar = el('span', 'avatar', initialOf(u.username))
        avatar.setAttribute('aria-hidden', 'true')
        li.append(avatar, el('span', 'member-name', u.username))
        if (u.id === owner?.id) li.append(el('span', 'role-badge', 'owner'))
        if (u.id === me?.id) li.append(el('span', 'member-you', '(you)'))
        if (manage && u.id !== owner?.id) {
          const remove = el('button', 'button subtle small', 'Remove')
          remove.type = 'button'
          remove.setAttribute('aria-label', `Remove ${u.username}`)
          remove.addEventListener('click', () => void this.change(() => client.removeMember(room, u.username)))
          li.append(remove)
        }
        return li
      }),
    )
  }

  private async add(): Promise<void> {
    const username = this.addName.value.trim()
    if (username === '') return showError(this.error, 'Type the username of the person to add.', this.addName)
    if (await this.change(() => client.addMember(this.room!, username))) this.addName.value = ''
  }

  /** Adds or removes someone, then lists the members again; true when it worked. */
  private async change(work: () => Promise<void>): Promise<boolean> {
    if (!client.token || this.room === undefined) return false
    try {
      await work()
    } catch (err) {
      if (this.deps.endIfRefused(err)) this.dialog.close()
      else showError(this.error, describeError(err), this.addName)
      return false
    }
    showError(this.error, undefined)
    await this.renderMembers()
    return true
  }
}
