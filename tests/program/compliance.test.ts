import { describeStage } from "./stage-suite.js";

describeStage("compliance");
