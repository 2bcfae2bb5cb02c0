// Judges a batch of IAM requests with @cloud-copilot/iam-simulate.
// stdin: a JSON array of simulations (iam-simulate's Simulation shape);
// stdout: a JSON array, one {result, errors} per simulation, in order.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const input = await new Promise((resolve, reject) => {
  let text = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk) => (text += chunk))
  process.stdin.on('end', () => resolve(text))
  process.stdin.on('error', reject)
})

const out = []
for (const simulation of JSON.parse(input)) {
  const response = await runSimulation(simulation, {})
  if (response.resultType === 'error') {
    out.push({ result: 'Error', errors: response.errors })
  } else {
    out.push({ result: response.overallResult })
  }
}
process.stdout.write(JSON.stringify(out))
