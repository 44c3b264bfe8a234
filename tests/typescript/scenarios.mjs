// The official TypeScript SDK (npm @temporalio/*) against a running Keel: a worker and a
// client on the address given (one node, or a follower of a cluster) run every scenario and
// check its result and history. Exits 1 on the first failed check.
//
//   node tests/typescript/scenarios.mjs 127.0.0.1:7233
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, DefaultLogger } from '@temporalio/worker';
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
};

const taskQueue = `ts-${randomUUID()}`;
const id = (name) => `ts-${name}-${randomUUID()}`;

const scenarios = {
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
