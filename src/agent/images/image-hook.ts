import { isBuiltImageRef } from '../../api/build.ts';
import type { Task } from '../../api/task.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Driver } from '../drivers/driver.ts';
import { TaskHookError, type PrestartContext, type TaskHook } from '../executor/hooks.ts';
import type { BlobReader } from './blob-reader.ts';

export interface ImageHookDeps {
  readonly drivers: ReadonlyMap<string, Driver>;
  readonly reader: BlobReader;
  readonly logger: Logger;
}

/**
 * The task hook that brings built images (docs/builds.md) to this node: before a task whose
 * image is `flotilla.local/…` is created, an engine that lacks the image gets it from the
 * manager (`blob-read` over the session) and loads it. No registry is asked: the driver's own
 * pull then finds the image present. Tasks of one image wait for one fetch.
 */
export function imageHook(deps: ImageHookDeps): TaskHook {
  const fetching = new Map<string, Promise<void>>();
  return {
    name: 'images',
    async prestart(task: Task, context: PrestartContext) {
      const image = task.spec.container.image;
      if (image === undefined || !isBuiltImageRef(image)) return undefined;
      const images = deps.drivers.get(task.spec.driver)?.images;
      if (!images) return undefined;
      let p = fetching.get(image);
      if (!p) {
        p = (async () => {
          if (await images.has(image)) return;
          deps.logger.info({ image, task: task.id }, 'fetching a built image from the manager');
          await images.load(deps.reader.read({ image }, context.signal), context.signal);
          if (!(await images.has(image))) throw new Error(`the archive of ${image} loaded, but the engine has no such image`);
        })().finally(() => fetching.delete(image));
        fetching.set(image, p);
      }
      try {
        await p;
      } catch (err) {
        throw new TaskHookError('images', `cannot fetch image ${image} from the manager: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      return undefined;
    },
  };
}
