import type { Logger } from "@aria/core-types";
import { AriaError } from "@aria/errors";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { LocalEventNotifier } from "../api/sse.ts";
import type { RunDispatcher, RunService, RunSubmission } from "./run-service.ts";

const QUEUE = "aria-runs";

/** BullMQ wants its own connections, with no per-request retry limit (it blocks on commands). */
function bullConnection(url: string, name: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: name,
  });
}

/**
 * Dispatches runs through a Redis-backed BullMQ queue, so that any number of runtime replicas
 * (`--role api`) can accept runs and any number of workers (`--role worker`) execute them.
 */
export class QueueRunDispatcher implements RunDispatcher {
  private readonly queue: Queue;
  private readonly connection: Redis;

  constructor(deps: { redisUrl: string; prefix?: string }) {
    this.connection = bullConnection(deps.redisUrl, "aria-queue");
    this.queue = new Queue(QUEUE, {
      connection: this.connection,
      prefix: deps.prefix ?? "aria:bull",
    });
  }

  async dispatch(submission: RunSubmission, resume?: string): Promise<void> {
    try {
      await this.queue.add(
        "run",
        { runId: submission.runId },
        {
          // A resumption (after an approval) is a job of its own: BullMQ ignores a repeated id (and
          // refuses ':' in one).
          jobId: resume === undefined ? submission.runId : `${submission.runId}-${resume}`,
          // A worker may find the run still leased by one that died; retry until the lease expires.
          attempts: 50,
          backoff: { type: "fixed", delay: 1000 },
          removeOnComplete: { count: 10_000 },
          removeOnFail: { count: 10_000 },
        },
      );
    } catch (error) {
      throw new AriaError("STORE_UNAVAILABLE", {
        message: `Could not queue run ${submission.runId}: ${(error as Error).message}`,
        cause: error,
      });
    }
  }

  async depth(): Promise<number> {
    const counts = await this.queue.getJobCounts("waiting", "delayed", "prioritized");
    return (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0);
  }

  /** Age in ms of the oldest waiting job (0 when none), for alerting on queue age. */
  async oldestAgeMs(): Promise<number> {
    const [job] = await this.queue.getJobs(["waiting"], 0, 0, true);
    return job ? Date.now() - job.timestamp : 0;
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}

/**
 * A queue worker: executes queued runs in this process. A worker killed mid-run leaves its job
 * stalled; BullMQ hands it to another worker after the lock expires, and the run service resumes
 * the run from its checkpoints (the engine's fenced lease makes sure only one worker advances it).
 */
export class RunWorker {
  private readonly worker: Worker;
  private readonly connection: Redis;
  private readonly cancelPoll: NodeJS.Timeout;

  constructor(deps: {
    redisUrl: string;
    service: RunService;
    concurrency: number;
    lockDurationMs: number;
    logger: Logger;
    prefix?: string;
    /** Runs this process is executing, and how to cancel one (cancel requests arrive through the store). */
    activeRuns: () => string[];
    pendingCancel: (runId: string) => Promise<string | undefined>;
    cancel: (runId: string, reason: string) => void;
  }) {
    this.connection = bullConnection(deps.redisUrl, "aria-worker");
    this.worker = new Worker(
      QUEUE,
      async (job) => {
        const runId = (job.data as { runId: string }).runId;
        const run = await deps.service.execute(runId);
        // A paused run waits for a decision; the decision dispatches it again.
        if (run && !["succeeded", "failed", "cancelled", "paused"].includes(run.status)) {
          // Stopped by a shutdown at a checkpoint: fail the job so another worker resumes the run.
          throw new AriaError("RUN_CONFLICT", {
            message: `Run ${runId} stopped (${run.status}) before it ended; it will be resumed`,
          });
        }
        return { status: run?.status };
      },
      {
        connection: this.connection,
        prefix: deps.prefix ?? "aria:bull",
        concurrency: deps.concurrency,
        lockDuration: deps.lockDurationMs,
        stalledInterval: Math.max(1000, Math.floor(deps.lockDurationMs / 2)),
        maxStalledCount: 100,
      },
    );
    this.worker.on("failed", (job, error) => {
      const code = AriaError.is(error) ? error.code : "INTERNAL_ERROR";
      if (code !== "RUN_CONFLICT")
        deps.logger.warn(
          { runId: job?.data?.runId, code, message: error.message },
          "queued run failed",
        );
    });
    this.worker.on("error", (error) =>
      deps.logger.warn({ message: error.message }, "queue worker error"),
    );
    // Cancel requests made on another replica reach the run here.
    this.cancelPoll = setInterval(() => {
      for (const runId of deps.activeRuns()) {
        deps
          .pendingCancel(runId)
          .then((actor) => {
            if (actor) deps.cancel(runId, `cancelled by ${actor}`);
          })
          .catch(() => undefined);
      }
    }, 500);
    this.cancelPoll.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.cancelPoll);
    await this.worker.close();
    this.connection.disconnect();
  }
}

/** Event notifications across replicas over Redis pub/sub, delivered to local listeners. */
export class RedisEventNotifier extends LocalEventNotifier {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly channel: string;

  constructor(deps: { redisUrl: string; channel?: string }) {
    super();
    this.channel = deps.channel ?? "aria:events";
    this.publisher = new Redis(deps.redisUrl, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      connectionName: "aria-events-pub",
    });
    this.subscriber = new Redis(deps.redisUrl, {
      maxRetriesPerRequest: null,
      connectionName: "aria-events-sub",
    });
    this.publisher.on("error", () => undefined);
    this.subscriber.on("error", () => undefined);
    void this.subscriber.subscribe(this.channel).catch(() => undefined);
    // Another replica's notification reaches this replica's listeners (not published again).
    this.subscriber.on("message", (_channel: string, runId: string) => super.notify(runId));
  }

  override notify(runId: string): void {
    // Local listeners at once; other replicas through Redis (readers also poll, so a lost message only delays).
    super.notify(runId);
    this.publisher.publish(this.channel, runId).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }
}
