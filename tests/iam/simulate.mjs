// Judges a batch of IAM requests with @cloud-copilot/iam-simulate.
// stdin: a JSON array of simulations (iam-simulate's Simulation shape), each
// with an optional "unsafe": true for the requests whose context keys the
// validator drops (kms:EncryptionContext:<key>), which then go to the
// evaluator's core without validation, their keys kept.
// stdout: a JSON array, one {result, errors, ignored} per simulation, in order;
// "ignored" lists the context keys the validator dropped as not applying.
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { loadPolicy } from '@cloud-copilot/iam-policy'

// The evaluator's core, by path: the package exports only its validating
// entry, and its own unvalidated one (runUnsafeSimulation, 0.1.173) loads a
// resource policy without the name its analysis reads, and fails.
const engine = new URL('./node_modules/@cloud-copilot/iam-simulate/dist/esm/', import.meta.url)
const { authorize } = await import(new URL('core_engine/CoreSimulatorEngine.js', engine))
const { AwsRequestImpl } = await import(new URL('request/request.js', engine))
const { RequestContextImpl } = await import(new URL('requestContext.js', engine))
const { DiscoveryContextKeyConstraints } = await import(
  new URL('context_keys/discoveryContextKeyConstraints.js', engine)
)

// One request judged by the core, its context keys as given.
function unvalidated(simulation) {
  const named = (list) => list.map(({ name, policy }) => loadPolicy(policy, { name }))
  const orgPolicies = (levels) =>
    levels.map(({ orgIdentifier, policies }) => ({ orgIdentifier, policies: named(policies) }))
  const { request } = simulation
  const analysis = authorize({
    request: new AwsRequestImpl(
      request.principal,
      { resource: request.resource.resource, accountId: request.resource.accountId },
      request.action,
      new RequestContextImpl(request.contextVariables)
    ),
    sessionPolicy: undefined,
    identityPolicies: named(simulation.identityPolicies),
    serviceControlPolicies: orgPolicies(simulation.serviceControlPolicies),
    resourceControlPolicies: orgPolicies(simulation.resourceControlPolicies),
    resourcePolicy: simulation.resourcePolicy
      ? loadPolicy(simulation.resourcePolicy, { name: 'ResourcePolicy' })
      : undefined,
    permissionBoundaries: undefined,
    vpcEndpointPolicies: undefined,
    simulationParameters: {
      simulationMode: 'Strict',
      discoveryContextKeyConstraints: new DiscoveryContextKeyConstraints([]),
    },
    serviceSettings: { s3: {} },
  })
  return analysis.result
}

const input = await new Promise((resolve, reject) => {
  let text = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk) => (text += chunk))
  process.stdin.on('end', () => resolve(text))
  process.stdin.on('error', reject)
})

const out = []
for (const { unsafe, ...simulation } of JSON.parse(input)) {
  if (unsafe) {
    out.push({ result: unvalidated(simulation), ignored: [] })
    continue
  }
  const response = await runSimulation(simulation, {})
  if (response.resultType === 'error') {
    out.push({ result: 'Error', errors: response.errors })
  } else if (response.resultType === 'single') {
    out.push({ result: response.overallResult, ignored: response.result.ignoredContextKeys ?? [] })
  } else {
    out.push({
      result: response.overallResult,
      ignored: [...new Set(response.results.flatMap((r) => r.ignoredContextKeys ?? []))],
    })
  }
}
process.stdout.write(JSON.stringify(out))
