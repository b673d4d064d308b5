// Every route plugin of the HTTP API, registered in this order by app.ts. A
// new concern (jobs, cluster, the dashboard) adds its plugin here: its routes
// then get identity, problem+json errors, the reply headers and a place in
// the OpenAPI document like every other.
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../app.js';
import { clusterRoutes } from './cluster.js';
import { dashboardRoutes } from './dashboard.js';
import { jobRoutes } from './jobs.js';
import { openapiRoutes } from './openapi.js';
import { registryRoutes } from './registry.js';
import { runRoutes } from './run.js';
import { statsRoutes } from './stats.js';
import { statusRoutes } from './status.js';

export type RoutePlugin = (app: FastifyInstance, context: ApiContext) => Promise<void>;

export const API_ROUTES: RoutePlugin[] = [runRoutes, registryRoutes, statusRoutes, statsRoutes, clusterRoutes, dashboardRoutes, jobRoutes, openapiRoutes];
