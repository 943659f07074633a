export { AssignmentSolver, minCostAssignment } from './assignment.js';
export { trackerConfigSchema, type TrackerConfig, type TrackerConfigInput } from './config.js';
export { iou } from './iou.js';
export { BoxKalman, type KalmanNoise } from './kalman.js';
export type { TrackedObject, TrackState } from './track.js';
export { Tracker, type TrackerFrame } from './tracker.js';
export { blendEmbedding, cosine, embedderLook, type AppearanceStats, type Look } from './appearance.js';
