// Workflows for the TypeScript SDK tests (scenarios.mjs); the SDK's worker bundles this file.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
} from '@temporalio/workflow';

interface Activities {
  greet(name: string): Promise<string>;
  explode(what: string): Promise<string>;
  pausable(): Promise<string>;
}

// Only a start-to-close timeout: the server derives the others (Temporal fills them in).
const { greet, explode } = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '100 milliseconds', maximumAttempts: 2 },
});

export async function greeting(name: string): Promise<string> {
  await sleep(200); // a durable timer
  return await greet(name);
}

export const addSignal = defineSignal<[number]>('add');
export const finishSignal = defineSignal('finish');
export const totalQuery = defineQuery<number>('total');
export const setUpdate = defineUpdate<number, [number]>('set');

export async function counter(): Promise<number> {
  let total = 0;
  let done = false;
  setHandler(addSignal, (n: number) => {
    total += n;
  });
  setHandler(finishSignal, () => {
    done = true;
  });
  setHandler(totalQuery, () => total);
  setHandler(
    setUpdate,
    (n: number) => {
      const previous = total;
      total = n;
      return previous;
    },
    {
      validator: (n: number) => {
        if (n < 0) throw new Error('negative totals are refused');
      },
    },
  );
  await condition(() => done);
  return total;
}

export async function parent(children: number): Promise<string[]> {
  const results: string[] = [];
  for (let i = 0; i < children; i++) {
    results.push(await executeChild(greeting, { args: [`child ${i}`] }));
  }
  return results;
}

export async function failing(): Promise<void> {
  throw ApplicationFailure.nonRetryable('deliberate failure', 'Deliberate');
}

export async function activityFails(): Promise<string> {
  return await explode('the activity');
}

export async function cancellable(): Promise<string> {
  try {
    await sleep('1 hour');
    return 'not cancelled';
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => greet('cleanup'));
    }
    throw err;
  }
}

const { pausable } = proxyActivities<Activities>({
  startToCloseTimeout: '60 seconds',
  heartbeatTimeout: '2 seconds',
  retry: { initialInterval: '1 second' },
});

export async function pausableActivity(): Promise<string> {
  return await pausable();
}
