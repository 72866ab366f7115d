from keras_vim.utils import image_utils
from keras_vim.utils import preset_evaluation
from keras_vim.utils import preset_utils
from keras_vim.utils import sample_data
from keras_vim.utils import shuffled_fit
from keras_vim.utils import validation
