import { networksAllocator } from './networks.ts';
import { publishedPortsAllocator } from './published-ports.ts';
import type { TaskAllocator } from './task-allocator.ts';

/**
 * The allocators every new task passes, in order; a task moves to `pending` when all signed
 * off. Adding a resource is one file plus a line here.
 */
export const TASK_ALLOCATORS: readonly TaskAllocator[] = [publishedPortsAllocator, networksAllocator];
