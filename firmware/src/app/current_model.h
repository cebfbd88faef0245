// The generated model (model_settings.h, copied into the build's model folder)
// as the application's ModelInfo, and statically allocated buffers sized for
// it. Compiled in the board builds and the QEMU smoke, not in the host unit
// tests (which use small fake models).
#ifndef TINYMLOPS_APP_CURRENT_MODEL_H_
#define TINYMLOPS_APP_CURRENT_MODEL_H_

#include "model_info.h"

namespace tinymlops {

const ModelInfo& CurrentModel();
// Buffers for App, sized from the generated constants.
AppBuffers CurrentBuffers();
// Receive buffer for one command line: a W line of T x C values of up to 16
// characters each, with their commas.
char* LineInBuffer();
int LineInCapacity();

}  // namespace tinymlops

#endif  // TINYMLOPS_APP_CURRENT_MODEL_H_
