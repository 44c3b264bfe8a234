// The official TypeScript SDK (npm @temporalio/*) against a running Keel: a worker and a
// client on the address given (one node, or a follower of a cluster) run every scenario and
// check its result and history. Exits 1 on the first failed check.
//
//   node tests/typescript/scenarios.mjs 127.0.0.1:7233
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  ActivityExecutionAlreadyStartedError,
  ActivityExecutionFailedError,
  Client,
  Connection,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { NativeConnection, Runtime, Worker, DefaultLogger } from '@temporalio/worker';
import { Context } from '@temporalio/activity';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';

const address = process.argv[2];
if (!address) {
  console.error('usage: node scenarios.mjs HOST:PORT');
  process.exit(2);
}

// Every SDK log line at WARN or above is kept: the run fails on any but the ones the
// deliberately failing scenarios cause (the SDK warns when a workflow or activity fails).
const EXPECTED_WARNINGS = new Set(['Workflow failed', 'Activity failed']);
const warnings = [];
Runtime.install({
  logger: new DefaultLogger('WARN', (entry) => {
    if (!EXPECTED_WARNINGS.has(entry.message)) warnings.push(`${entry.level} ${entry.message}`);
    console.error(`sdk ${entry.level}: ${entry.message}`);
  }),
});

const activities = {
  async greet(name) {
    return `Hello, ${name}!`;
  },
  async explode(what) {
    throw ApplicationFailure.retryable(`${what} exploded`, 'Explosion');
  },
  // Attempt 1 heartbeats until it is cancelled (a pause cancels it), keeping what the SDK
  // says about why; later attempts return at once.
  async pausable() {
    const ctx = Context.current();
    if (ctx.info.attempt > 1) return `resumed at attempt ${ctx.info.attempt}`;
    try {
      for (let i = 0; i < 300; i++) {
        ctx.heartbeat('working');
        await ctx.sleep(100);
      }
    } catch (err) {
      cancellations.push(ctx.cancellationDetails);
      throw err;
    }
    return 'never paused';
  },
};
const cancellations = [];

// The first pending activity of a run once it is in `state` (PendingActivityState).
async function pendingActivity(handle, state) {
  for (let i = 0; ; i++) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    if (pending.length > 0 && pending[0].state === state) return pending[0];
    assert.ok(i < 200, `the activity never reached state ${state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const taskQueue = `ts-${randomUUID()}`;
const id = (name) => `ts-${name}-${randomUUID()}`;

const scenarios = {
  async 'standalone activities: start, result, describe, list, count, conflict, cancel'(client) {
    const activityId = id('standalone');
    const options = { id: activityId, taskQueue, args: ['standalone'], startToCloseTimeout: '10s' };
    const handle = await client.activity.start('greet', options);
    assert.equal(await handle.result(), 'Hello, standalone!');
    const described = await handle.describe();
    assert.equal(described.status, 'COMPLETED');
    assert.equal(described.activityType, 'greet');
    assert.equal(described.rawInfo.attempt, 1);
    await assert.rejects(client.activity.start('greet', { ...options, idReusePolicy: 'REJECT_DUPLICATE' }), (err) => {
      assert.ok(err instanceof ActivityExecutionAlreadyStartedError, `got ${err}`);
      return true;
    });
    const idle = await client.activity.start('greet', { ...options, id: id('idle'), taskQueue: `nobody-${randomUUID()}` });
    const listed = [];
    for await (const a of client.activity.list(`ActivityId = '${activityId}'`)) listed.push([a.activityId, a.status]);
    assert.deepEqual(listed, [[activityId, 'COMPLETED']]);
    const running = await client.activity.count(`ActivityId = '${idle.activityId}' AND ExecutionStatus = 'Running'`);
    assert.equal(running.count, 1);
    await idle.cancel('not needed');
    await assert.rejects(idle.result(), (err) => {
      assert.ok(err instanceof ActivityExecutionFailedError, `got ${err}`);
      assert.ok(err.cause instanceof CancelledFailure, `the cause is ${err.cause}`);
      return true;
    });
  },

  async 'activity with only a start-to-close timeout, after a timer'(client) {
    const handle = await client.workflow.start('greeting', { args: ['Keel'], taskQueue, workflowId: id('greeting') });
    assert.equal(await handle.result(), 'Hello, Keel!');
    const history = await handle.fetchHistory();
    assert.ok(history.events.some((e) => e.timerFiredEventAttributes), 'no TimerFired event');
    const scheduled = history.events.find((e) => e.activityTaskScheduledEventAttributes).activityTaskScheduledEventAttributes;
    // The timeouts the server derives are present on the event, zero meaning unlimited.
    assert.ok(scheduled.scheduleToCloseTimeout, 'no schedule-to-close timeout on the event');
    assert.ok(scheduled.scheduleToStartTimeout, 'no schedule-to-start timeout on the event');
    const description = await handle.describe();
    assert.equal(description.status.name, 'COMPLETED');
  },

  async 'signals, queries and updates'(client) {
    const handle = await client.workflow.start('counter', { taskQueue, workflowId: id('counter') });
    await handle.signal('add', 2);
    await handle.signal('add', 3);
    assert.equal(await handle.query('total'), 5);
    assert.equal(await handle.executeUpdate('set', { args: [10] }), 5);
    await assert.rejects(handle.executeUpdate('set', { args: [-1] }), (err) => {
      assert.ok(err instanceof WorkflowUpdateFailedError, `got ${err}`);
      assert.match(err.cause?.message ?? '', /negative totals are refused/);
      return true;
    });
    assert.equal(await handle.query('total'), 10);
    await handle.signal('finish');
    assert.equal(await handle.result(), 10);
  },

  async 'child workflows'(client) {
    const handle = await client.workflow.start('parent', { args: [2], taskQueue, workflowId: id('parent') });
    assert.deepEqual(await handle.result(), ['Hello, child 0!', 'Hello, child 1!']);
  },

  async 'a failing workflow'(client) {
    const handle = await client.workflow.start('failing', { taskQueue, workflowId: id('failing') });
    await assert.rejects(handle.result(), (err) => {
      assert.ok(err instanceof WorkflowFailedError, `got ${err}`);
      assert.ok(err.cause instanceof ApplicationFailure);
      assert.equal(err.cause.message, 'deliberate failure');
      assert.equal(err.cause.type, 'Deliberate');
      return true;
    });
  },

  async 'a failing activity, retried per its policy'(client) {
    const handle = await client.workflow.start('activityFails', { taskQueue, workflowId: id('activity-fails') });
    await assert.rejects(handle.result(), (err) => {
      assert.ok(err instanceof WorkflowFailedError, `got ${err}`);
      assert.ok(err.cause instanceof ActivityFailure, `cause ${err.cause}`);
      assert.equal(err.cause.cause?.message, 'the activity exploded');
      return true;
    });
    const history = await handle.fetchHistory();
    const failed = history.events.find((e) => e.activityTaskFailedEventAttributes);
    assert.ok(failed, 'no ActivityTaskFailed event');
    const started = history.events.find((e) => e.activityTaskStartedEventAttributes);
    assert.equal(started.activityTaskStartedEventAttributes.attempt, 2);
  },

  async 'an activity paused while running, then unpaused'(client) {
    const workflowId = id('pausable');
    const handle = await client.workflow.start('pausableActivity', { taskQueue, workflowId });
    const running = await pendingActivity(handle, 2); // STARTED
    const target = { namespace: 'default', execution: { workflowId }, id: running.activityId };
    await client.workflowService.pauseActivity({ ...target, identity: 'ts', reason: 'checking', requestId: 'p' });
    const paused = await pendingActivity(handle, 4); // PAUSED: the attempt failed, the next waits
    assert.equal(paused.attempt, 2);
    assert.equal(paused.pauseInfo?.manual?.reason, 'checking');
    assert.equal(cancellations.length, 1);
    assert.equal(cancellations[0]?.paused, true, `cancellation details ${JSON.stringify(cancellations[0])}`);
    await client.workflowService.unpauseActivity(target);
    assert.equal(await handle.result(), 'resumed at attempt 2');
  },

  async 'cancellation with a cleanup activity'(client) {
    const handle = await client.workflow.start('cancellable', { taskQueue, workflowId: id('cancellable') });
    // Cancel once the workflow has started its timer.
    for (let i = 0; ; i++) {
      const history = await handle.fetchHistory();
      if (history.events.some((e) => e.timerStartedEventAttributes)) break;
      assert.ok(i < 100, 'the timer never started');
      await new Promise((r) => setTimeout(r, 100));
    }
    await handle.cancel();
    await assert.rejects(handle.result(), (err) => {
      assert.ok(err instanceof WorkflowFailedError, `got ${err}`);
      assert.ok(err.cause instanceof CancelledFailure, `cause ${err.cause}`);
      return true;
    });
    const history = await handle.fetchHistory();
    assert.ok(history.events.some((e) => e.activityTaskCompletedEventAttributes), 'the cleanup activity did not run');
    assert.ok(history.events.some((e) => e.workflowExecutionCanceledEventAttributes), 'no canceled event');
  },
};

async function main() {
  const workerConnection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection: workerConnection,
    namespace: 'default',
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./workflows.ts', import.meta.url)),
    activities,
  });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  let failed = 0;
  await worker.runUntil(async () => {
    for (const [name, run] of Object.entries(scenarios)) {
      const began = Date.now();
      try {
        await run(client);
        console.log(`ok   ${name} (${Date.now() - began} ms)`);
      } catch (err) {
        failed++;
        console.log(`FAIL ${name}: ${err?.stack ?? err}`);
      }
    }
  });
  await connection.close();
  await workerConnection.close();
  if (warnings.length > 0) {
    failed++;
    console.log(`FAIL the SDK logged ${warnings.length} warning(s): ${warnings.join(' | ')}`);
  }
  console.log(failed === 0 ? 'all scenarios passed' : `${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
