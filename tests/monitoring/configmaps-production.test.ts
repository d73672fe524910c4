import { describeConfigMaps } from "./configmap-suite.js";

describeConfigMaps("production");
