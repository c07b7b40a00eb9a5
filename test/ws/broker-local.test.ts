/** The broker contract for one instance alone: the local broker over this instance's presence. */
import { createLocalBroker } from '../../src/ws/broker.ts'
import { Presence } from '../../src/ws/presence.ts'
import { describeBrokerContract, type Instance } from './broker-contract.ts'

describeBrokerContract('local', async () => {
  const presence = new Presence()
  const broker = createLocalBroker(presence)
  const here: Instance = {
    broker,
    connect: (room, user, present) => void (present ? presence.enter(room, user) : presence.exit(room, user)),
  }
  return { here, there: here, cluster: false, [Symbol.asyncDispose]: () => broker.close() }
})
